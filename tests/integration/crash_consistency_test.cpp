// Crash consistency of PV block storage: the monitor is killed with SIGKILL while its
// guest writes as fast as it can (blk_tool crashwrite). qemu-img check must find no
// corruption (leaked clusters are allowed, as after a QEMU crash), and everything the
// guest had flushed (and said so in data/flushed) must be there. The pattern is blk_tool's: word 0
// of each sector is its number, the rest a hash of (seed, sector, word).
#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

#include "toolstack_fixture.hpp"

namespace domus::test {
namespace {

constexpr std::uint64_t kSeed = 11;

std::uint64_t mix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

bool sector_matches(const char* bytes, std::uint64_t sector) {
    std::uint64_t words[64];
    std::memcpy(words, bytes, sizeof(words));
    if (words[0] != sector) return false;
    for (unsigned i = 1; i < 64; ++i)
        if (words[i] != mix(kSeed << 48 ^ sector << 9 ^ i)) return false;
    return true;
}

class CrashConsistencyTest : public ToolstackTest,
                             public ::testing::WithParamInterface<std::string> {
protected:
    void SetUp() override {
        ToolstackTest::SetUp();
        if (IsSkipped()) return;
        ASSERT_EQ(domus({"info"}).status, 0);
    }

    pid_t monitor_pid() {
        for (pid_t pid : run_dir_processes()) {
            auto argv = process_argv(pid);
            if (!argv.empty() && argv[0].ends_with("/domus-vmm")) return pid;
        }
        return -1;
    }

    std::uint64_t flushed_sectors(const std::string& domid) {
        auto r = xenstore("xenstore-read", {"/local/domain/" + domid + "/data/flushed"});
        return r.status == 0 ? std::strtoull(r.out.c_str(), nullptr, 10) : 0;
    }

    // The image format of this run's disk ("direct" is a raw disk opened with O_DIRECT).
    static std::string image_format() {
        return GetParam() == std::string("direct") ? "raw" : GetParam();
    }

    // Starts domain `name` writing `size_mb` of the pattern to a new `disk`; its domid.
    std::string start_writer(const std::string& name, const std::string& disk,
                             const std::string& size_mb) {
        const std::string format = image_format();
        auto created = domus({"image", "create", disk, size_mb + "M", "-f", format});
        EXPECT_EQ(created.status, 0) << created.err;
        // "direct": a raw disk the backend opens with O_DIRECT (xl's direct-io-safe).
        std::string spec = "format=" + format + ", vdev=xvda, access=w, " +
                           (GetParam() == std::string("direct") ? "direct-io-safe, " : "") +
                           "target=" + disk;
        std::string cfg = config(
            name, "name = \"" + name + "\"\nkernel = \"" + guest_image("blk_tool") +
                      "\"\nmemory = 64\ndisk = [ '" + spec + "' ]\nextra = \"mode=crashwrite " +
                      "size_mb=" + size_mb + " block_kb=128 flush_mb=4 seed=11\"\n");
        auto r = domus({"create", cfg});
        EXPECT_EQ(r.status, 0) << r.err;
        auto domid = domus({"domid", name});
        EXPECT_EQ(domid.status, 0) << domid.err;
        return domid.out.substr(0, domid.out.find('\n'));
    }

    // After the kill: the image passes qemu-img check (leaks allowed, as after a QEMU
    // crash) and its first `flushed` sectors carry the pattern.
    void expect_flushed_data_intact(const std::string& disk, std::uint64_t flushed) {
        const std::string format = image_format();
        if (format == "qcow2") {  // raw has no metadata to check
            // Exit 3: clusters allocated for writes that never got their L2 entry are leaked
            // ("no harm to data", as after a QEMU crash); 2 would be corruption.
            auto check = run_process({"/usr/bin/qemu-img", "check", "-f", format, disk},
                                     std::chrono::seconds(60));
            EXPECT_TRUE(check.status == 0 || check.status == 3) << check.out << check.err;
            EXPECT_EQ(check.out.find("ERROR"), std::string::npos) << check.out;
        }
        ASSERT_EQ(flushed % 128, 0u);  // whole 128 KiB blocks
        if (flushed == 0) return;
        std::string raw = run_dir_ + "/flushed.raw";
        auto dd = run_process({"/usr/bin/qemu-img", "dd", "-f", format, "-O", "raw", "bs=64k",
                               "count=" + std::to_string(flushed / 128), "if=" + disk, "of=" + raw},
                              std::chrono::seconds(120));
        ASSERT_EQ(dd.status, 0) << dd.err;
        std::ifstream in(raw, std::ios::binary);
        std::vector<char> sector(512);
        std::uint64_t bad = 0, first_bad = 0;
        for (std::uint64_t s = 0; s < flushed; ++s) {
            ASSERT_TRUE(in.read(sector.data(), 512)) << "short read at sector " << s;
            if (!sector_matches(sector.data(), s) && bad++ == 0) first_bad = s;
        }
        EXPECT_EQ(bad, 0u) << "first bad sector " << first_bad << " of " << flushed << " flushed";
    }

    // SIGKILL to the monitor; returns once it is gone (its image locks with it).
    void kill_monitor(pid_t pid) {
        ASSERT_EQ(::kill(pid, SIGKILL), 0);
        ASSERT_TRUE(eventually([&] { return ::kill(pid, 0) != 0; }));
    }
};

TEST_P(CrashConsistencyTest, KillingTheMonitorMidWriteLosesNothingFlushed) {
    std::string disk = run_dir_ + "/crash." + GetParam();
    std::string domid = start_writer("cw", disk, "2048");
    pid_t pid = monitor_pid();
    ASSERT_GT(pid, 0);
    // Some way in, mid-stream: kill right after reading how far the guest has flushed.
    ASSERT_TRUE(
        eventually([&] { return flushed_sectors(domid) >= 48 * 2048; }, std::chrono::seconds(60)));
    std::uint64_t flushed = flushed_sectors(domid);
    kill_monitor(pid);
    EXPECT_LT(flushed, 2048ull * 2048) << "the guest finished before the kill";
    expect_flushed_data_intact(disk, flushed);
}

// CPU hogs on every core and a thread that keeps taking and touching memory, for as
// long as the object lives.
class Pressure {
public:
    Pressure() {
        unsigned cores = std::max(1u, std::thread::hardware_concurrency());
        for (unsigned i = 0; i < cores; ++i)
            threads_.emplace_back([this] {
                volatile std::uint64_t x = 0;
                while (!stop_.load(std::memory_order_relaxed))
                    x = x + 1;
            });
        threads_.emplace_back([this] {
            constexpr std::size_t kChunk = 256u << 20;
            while (!stop_.load(std::memory_order_relaxed)) {
                std::vector<char> memory(kChunk);
                for (std::size_t at = 0; at < kChunk && !stop_; at += 4096)
                    memory[at] = 1;
            }
        });
    }
    ~Pressure() {
        stop_ = true;
        for (auto& thread : threads_)
            thread.join();
    }

private:
    std::atomic<bool> stop_{false};
    std::vector<std::thread> threads_;
};

// Opt-in (DISABLED_: not part of the default suite, it runs for many minutes):
//   build/bin/integration_test --gtest_also_run_disabled_tests --gtest_filter='*ManyKills*'
// DOMUS_STRESS_KILLS sets the number of kills per format (default 300). Each kill comes
// at a random point of the stream (after 0 to 64 MiB of 512 flushed, plus up to 20 ms).
TEST_P(CrashConsistencyTest, DISABLED_ManyKillsUnderCpuAndMemoryPressureLoseNothingFlushed) {
    const char* configured = std::getenv("DOMUS_STRESS_KILLS");
    const int kills = configured ? std::atoi(configured) : 300;
    std::mt19937 random(std::random_device{}());
    Pressure pressure;
    for (int i = 0; i < kills && !HasFailure(); ++i) {
        SCOPED_TRACE("kill " + std::to_string(i));
        std::string disk = run_dir_ + "/stress." + GetParam();
        std::string domid = start_writer("cw" + std::to_string(i), disk, "512");
        pid_t pid = monitor_pid();
        ASSERT_GT(pid, 0);
        std::uint64_t wanted = std::uniform_int_distribution<std::uint64_t>(0, 64)(random) * 2048;
        ASSERT_TRUE(eventually([&] { return flushed_sectors(domid) >= wanted; },
                               std::chrono::seconds(120)));
        // Not synchronisation: a random point in the stream for the kill.
        std::this_thread::sleep_for(
            std::chrono::microseconds(std::uniform_int_distribution<int>(0, 20000)(random)));
        std::uint64_t flushed = flushed_sectors(domid);
        kill_monitor(pid);
        expect_flushed_data_intact(disk, flushed);
        std::filesystem::remove(disk);
    }
}

INSTANTIATE_TEST_SUITE_P(Formats, CrashConsistencyTest,
                         ::testing::Values("raw", "qcow2", "direct"));

}  // namespace
}  // namespace domus::test
