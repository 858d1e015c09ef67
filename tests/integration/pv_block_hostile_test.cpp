// Boots blk_hostile: a guest that takes xvdb away from the kernel's blkfront and drives
// the monitor's block backend as a malicious frontend (bad grants, segments, ranges,
// ops, indirect requests, a rewritten slot, a bogus req_prod), while xvda stays with
// the kernel and must keep working. Uses a private store daemon.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "domus_fixture.hpp"

extern char** environ;

namespace domus::test {
namespace {

constexpr std::uint64_t kDiskSectors = 8192;  // 4 MiB each

class PvBlockHostileTest : public DomainTest {
protected:
    void SetUp() override {
        DomainTest::SetUp();
        if (IsSkipped()) return;
        dir_ = ::testing::TempDir() + "domus-blk-hostile-" + std::to_string(::getpid());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_ + "/run");
        std::string bin = domus_binary();
        std::string xenstored = bin.substr(0, bin.rfind('/')) + "/domus-xenstored";
        std::string run_dir = dir_ + "/run";
        std::vector<char*> argv = {xenstored.data(), const_cast<char*>("--run-dir"), run_dir.data(),
                                   nullptr};
        ASSERT_EQ(
            ::posix_spawn(&store_pid_, xenstored.c_str(), nullptr, nullptr, argv.data(), environ),
            0);
        std::string socket = run_dir + "/xenstored/socket";
        for (int i = 0; i < 500 && !std::filesystem::exists(socket); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        ASSERT_TRUE(std::filesystem::exists(socket)) << "domus-xenstored did not start";
    }

    void TearDown() override {
        if (store_pid_ > 0) {
            ::kill(store_pid_, SIGKILL);
            ::waitpid(store_pid_, nullptr, 0);
        }
        if (!dir_.empty()) std::filesystem::remove_all(dir_);
    }

    std::string dir_;
    pid_t store_pid_ = -1;
};

TEST_F(PvBlockHostileTest, MaliciousFrontendGetsErrorsAndOtherDiskKeepsWorking) {
    std::string a = dir_ + "/a.img", b = dir_ + "/b.img";
    std::filesystem::resize_file((std::ofstream(a), a), kDiskSectors * 512);
    {
        // xvdb: word i of sector s is 0x5a5a000000000000 + s * 64 + i (blk_hostile checks it).
        std::ofstream out(b, std::ios::binary);
        std::vector<std::uint64_t> sector(64);
        for (std::uint64_t s = 0; s < kDiskSectors; ++s) {
            for (unsigned i = 0; i < 64; ++i)
                sector[i] = 0x5a5a000000000000ull + s * 64 + i;
            out.write(reinterpret_cast<const char*>(sector.data()), 512);
        }
        ASSERT_TRUE(out.good());
    }
    auto r = run(guest_image("blk_hostile"),
                 {"--store-run-dir", dir_ + "/run", "--disk", "format=raw, vdev=xvda, target=" + a,
                  "--disk", "format=raw, vdev=xvdb, target=" + b},
                 std::chrono::seconds(120));
    ASSERT_FALSE(r.timed_out) << r.out << r.err;
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("blk_hostile: PASS"), std::string::npos) << r.out << r.err;
    EXPECT_EQ(r.out.find("blk_hostile: FAIL"), std::string::npos) << r.out;
    // Case 6 ends xvdb's service on purpose; the backend says why.
    EXPECT_NE(r.err.find("frontend ring index out of range"), std::string::npos) << r.err;
    // The store daemon survived the whole run.
    EXPECT_EQ(::kill(store_pid_, 0), 0);
}

}  // namespace
}  // namespace domus::test
