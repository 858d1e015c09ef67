// Save, restore and migration end to end (docs/migration.md): a guest that counts in
// memory, writes and verifies a PV disk and watches its clock (save_counter.elf) goes
// on across a save and restore and across a warm migration between two domusd instances
// with their own run directories (two "hosts" sharing the disk's directory); damaged
// images are refused before anything starts; failed migrations leave the source running.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "migration/stream.hpp"
#include "two_hosts_fixture.hpp"

namespace domus::test {
namespace {

struct Counter {
    long long count = -1, verified = -1, errors = -1, backwards = -1, now = -1;
};

class MigrationTest : public TwoHostsTest {
protected:
    std::string counter_config(const std::string& disk, int memory_mib, const std::string& extra) {
        return config("sc", "name = \"sc\"\nkernel = \"" + guest_image("save_counter") +
                                "\"\nmemory = " + std::to_string(memory_mib) + "\ndisk = [ '" +
                                disk + ",raw,xvda,w' ]\n" + extra);
    }

    // The guest's figures (data/counter/status) in the domain `name` of run dir `dir`.
    Counter counter(const std::string& dir, const std::string& name = "sc") {
        Counter c;
        std::string status = read_at(dir, name, "data/counter/status");
        std::smatch m;
        std::regex re(R"(count=(\d+) verified=(\d+) errors=(\d+) backwards=(\d+) now=(\d+))");
        if (std::regex_search(status, m, re)) {
            c.count = std::stoll(m[1]), c.verified = std::stoll(m[2]);
            c.errors = std::stoll(m[3]), c.backwards = std::stoll(m[4]), c.now = std::stoll(m[5]);
        }
        return c;
    }

    // Waits until the guest counted past `past`; its figures then.
    Counter counted_past(const std::string& dir, long long past) {
        Counter c;
        eventually(
            [&] {
                c = counter(dir);
                return c.count > past;
            },
            std::chrono::seconds(30));
        return c;
    }

    // A running counter with some of its disk written and verified.
    Counter started(const std::string& disk, int memory_mib = 32, const std::string& extra = "") {
        auto created = domus({"create", counter_config(disk, memory_mib, extra)});
        EXPECT_EQ(created.status, 0) << created.err;
        Counter c;
        eventually(
            [&] {
                c = counter(run_dir_);
                return c.verified > 3;
            },
            std::chrono::seconds(30));
        EXPECT_GT(c.verified, 3);
        return c;
    }
};

TEST_F(MigrationTest, SaveAndRestoreGoOnCountingWithTheDiskIntactAndTheClockMonotonic) {
    std::string disk = image("disk.raw", "4M", "raw");
    Counter before = started(disk);
    std::string file = run_dir_ + "/sc.img";
    auto saved = domus({"save", "sc", file});
    ASSERT_EQ(saved.status, 0) << saved.err;
    EXPECT_NE(domus({"domid", "sc"}).status, 0) << "the saved domain is gone";
    Counter last = counter(run_dir_);  // nothing: the domain is gone
    EXPECT_EQ(last.count, -1);

    auto restored = domus({"restore", file});
    ASSERT_EQ(restored.status, 0) << restored.err;
    Counter after = counted_past(run_dir_, before.count + 20);
    EXPECT_GT(after.count, before.count + 20) << "the count goes on from where it was";
    EXPECT_EQ(after.errors, 0) << "every acknowledged write is on the disk";
    EXPECT_GT(after.verified, before.verified);
    EXPECT_EQ(after.backwards, 0);
    EXPECT_GT(after.now, before.now) << "guest time goes on";
    // A second round trip, with -p: restored paused, it goes on once unpaused.
    ASSERT_EQ(domus({"save", "sc", file}).status, 0);
    ASSERT_EQ(domus({"restore", "-p", file}).status, 0);
    Counter paused = counter(run_dir_);
    EXPECT_NE(domus({"list"}).out.find("--p---"), std::string::npos) << domus({"list"}).out;
    ASSERT_EQ(domus({"unpause", "sc"}).status, 0);
    Counter again = counted_past(run_dir_, paused.count + 10);
    EXPECT_EQ(again.errors, 0);
    EXPECT_EQ(again.backwards, 0);
}

TEST_F(MigrationTest, DamagedImagesAreRefusedBeforeAnythingStarts) {
    std::string disk = image("disk.raw", "4M", "raw");
    started(disk);
    std::string file = run_dir_ + "/sc.img";
    ASSERT_EQ(domus({"save", "sc", file}).status, 0);
    std::ifstream in(file, std::ios::binary);
    std::string good((std::istreambuf_iterator<char>(in)), {});
    ASSERT_GT(good.size(), 4096u);
    auto refused = [&](const std::string& bytes, const std::string& why) {
        std::string bad = run_dir_ + "/bad.img";
        std::ofstream(bad, std::ios::binary | std::ios::trunc) << bytes;
        auto r = domus({"restore", bad});
        EXPECT_NE(r.status, 0) << why;
        EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
        EXPECT_EQ(domus({"list"}).out.find("sc "), std::string::npos) << "nothing started";
    };
    for (std::size_t at : {std::size_t(30), good.size() / 3, good.size() / 2, good.size() - 20}) {
        std::string bad = good;
        bad[at] ^= 0x40;
        refused(bad, "corrupt");
    }
    refused(good.substr(0, good.size() / 2), "truncated");
    refused(good.substr(0, good.size() - 1), "truncated");
    std::string newer = good;
    std::uint32_t version = migration::kVersion + 1;
    std::memcpy(newer.data() + 8, &version, 4);
    std::uint32_t crc =
        migration::crc32({reinterpret_cast<const std::uint8_t*>(newer.data()), std::size_t(16)});
    std::memcpy(newer.data() + 16, &crc, 4);
    refused(newer, "newer");
    // The undamaged image still restores.
    ASSERT_EQ(domus({"restore", file}).status, 0);
    EXPECT_EQ(counted_past(run_dir_, 0).errors, 0);
}

TEST_F(MigrationTest, WarmMigrationMovesTheDomainToTheOtherHost) {
    std::string disk = image("disk.raw", "4M", "raw");
    Counter before = started(disk);
    auto moved = domus({"migrate", "--warm", "-s", "", "sc", transport_to(dst_)});
    ASSERT_EQ(moved.status, 0) << moved.err << moved.out;
    EXPECT_NE(domus({"domid", "sc"}).status, 0) << "gone from the source";
    Counter after = counted_past(dst_, before.count + 20);
    EXPECT_GT(after.count, before.count + 20);
    EXPECT_EQ(after.errors, 0);
    EXPECT_EQ(after.backwards, 0);
    EXPECT_GT(after.now, before.now);
}

// Live (the default): the guest dirties 50 MiB/s of a 64 MiB buffer (checking its stamps)
// and writes its disk while it moves there and back; nothing is lost either way.
TEST_F(MigrationTest, LiveMigrationUnderLoadLosesNothing) {
    std::string disk = image("disk.raw", "4M", "raw");
    Counter before = started(disk, 128, "extra = \"dirty_mb=50\"\n");
    auto there = domus({"migrate", "--json", "-s", "", "sc", transport_to(dst_)});
    ASSERT_EQ(there.status, 0) << there.err << there.out;
    // --json: progress events, then the result on the last line.
    auto last = there.out.rfind('\n', there.out.size() >= 2 ? there.out.size() - 2 : 0);
    auto event = nlohmann::json::parse(there.out.substr(last == std::string::npos ? 0 : last + 1),
                                       nullptr, false);
    ASSERT_TRUE(event.is_object()) << there.out;
    EXPECT_EQ(event.value("mode", ""), "live");
    EXPECT_GE(event.value("rounds", 0), 1);
    Counter moved = counted_past(dst_, before.count + 10);
    EXPECT_EQ(moved.errors, 0);
    auto back = domus_at(dst_, {"migrate", "-s", "", "sc", transport_to(run_dir_)});
    ASSERT_EQ(back.status, 0) << back.err << back.out;
    Counter home = counted_past(run_dir_, moved.count + 10);
    EXPECT_EQ(home.errors, 0) << "memory and disk intact across two live moves";
    EXPECT_EQ(home.backwards, 0);
    EXPECT_GT(home.now, moved.now);
}

// Cold: shut down here, started afresh there (the count starts again); a destination
// that fails has it started here again.
TEST_F(MigrationTest, ColdMigrationRestartsTheDomainThereOrHereAgain) {
    std::string disk = image("disk.raw", "4M", "raw");
    started(disk);
    auto failed = domus({"migrate", "--cold", "-s", "", "sc", "exit 3"});
    EXPECT_NE(failed.status, 0);
    EXPECT_NE(failed.err.find("started here again"), std::string::npos) << failed.err;
    EXPECT_GT(counted_past(run_dir_, 5).count, 5) << "running here again";
    auto moved = domus({"migrate", "--cold", "-s", "", "sc", transport_to(dst_)});
    ASSERT_EQ(moved.status, 0) << moved.err;
    EXPECT_NE(domus({"domid", "sc"}).status, 0);
    Counter there = counted_past(dst_, 5);
    EXPECT_GT(there.count, 5);
    EXPECT_EQ(there.errors, 0);
}

TEST_F(MigrationTest, FailedMigrationsLeaveTheSourceRunningAndTheDestinationClean) {
    std::string disk = image("disk.raw", "4M", "raw");
    Counter c = started(disk);
    auto still_running = [&](const std::string& what) {
        Counter now = counted_past(run_dir_, c.count + 10);
        EXPECT_GT(now.count, c.count + 10) << what << ": the source goes on";
        EXPECT_EQ(now.errors, 0) << what;
        EXPECT_EQ(now.backwards, 0) << what;
        c = now;
    };
    // The destination refuses: a domain of that name runs there.
    ASSERT_EQ(domus_at(dst_, {"create", idle_config("sc")}).status, 0);
    auto refused = domus({"migrate", "--warm", "-s", "", "sc", transport_to(dst_)});
    EXPECT_NE(refused.status, 0);
    EXPECT_NE(refused.err.find("already exists"), std::string::npos) << refused.err;
    still_running("destination refusing");
    EXPECT_EQ(domus_at(dst_, {"list"}).out.find("sc   "),
              domus_at(dst_, {"list"}).out.rfind("sc   "))
        << "no second domain there";
    // The transport dies part way through the stream.
    auto cut = domus({"migrate", "--warm", "-s", "", "sc", "head -c 5000 >/dev/null"});
    EXPECT_NE(cut.status, 0);
    still_running("transport dying");
    // The destination dies at once (nothing listens).
    auto dead = domus({"migrate", "--warm", "-s", "", "sc", "exit 3"});
    EXPECT_NE(dead.status, 0);
    still_running("destination dying");
    // The stream stops part way into a destination that has built the domain already (it
    // applies rounds as they come): it tears that domain down.
    auto torn = domus({"migrate", "-s", "", "sc", "head -c 300000 | " + transport_to(dst_)});
    EXPECT_NE(torn.status, 0);
    still_running("stream cut into the destination");
    EXPECT_EQ(domus_at(dst_, {"list"}).out.find("sc   "),
              domus_at(dst_, {"list"}).out.rfind("sc   "))
        << "the half-built domain is gone there";
    EXPECT_EQ(domus_at(dst_, {"list"}).out.find(" s---"), std::string::npos);
}

// A destination that cannot see the disk refuses before the copy, naming it. Its host is
// a mount namespace in which the source's directory (where the image is) is empty.
TEST_F(MigrationTest, ADestinationWithoutTheDiskRefusesAndTheSourceGoesOn) {
    std::string disk = image("disk.raw", "4M", "raw");
    Counter c = started(disk);
    SecondHost elsewhere(run_dir_ + "-blind");
    std::string transport = "unshare -m sh -c 'mount -t tmpfs tmpfs " + run_dir_ + " && exec " +
                            transport_to(elsewhere.dir()) + "'";
    auto refused = domus({"migrate", "-s", "", "sc", transport});
    EXPECT_NE(refused.status, 0);
    EXPECT_NE(refused.err.find(disk), std::string::npos) << refused.err;
    Counter now = counted_past(run_dir_, c.count + 10);
    EXPECT_GT(now.count, c.count + 10) << "the source goes on";
    EXPECT_EQ(now.errors, 0);
}

}  // namespace
}  // namespace domus::test
