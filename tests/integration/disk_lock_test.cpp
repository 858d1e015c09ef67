// Disk image locks across domains and QEMU's tools: a disk one domain writes is refused
// to a second domain (create, block-attach, domus run) and to qemu-img/qemu-io, and the
// reverse; a read-only disk is shared. The first holder never notices the attempts.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include "toolstack_fixture.hpp"

extern char** environ;

namespace domus::test {
namespace {

// `qemu-io -f FORMAT PATH` holding the image for writing, reading its commands from a
// pipe; closing the pipe makes it quit.
class QemuIoHolder {
public:
    QemuIoHolder(const std::string& path, const std::string& format) {
        int pipe_fds[2];
        EXPECT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
        commands_ = pipe_fds[1];
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, pipe_fds[0], 0);
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
        std::vector<std::string> argv = {"/usr/bin/qemu-io", "-f", format, path};
        std::vector<char*> args;
        for (auto& a : argv)
            args.push_back(a.data());
        args.push_back(nullptr);
        EXPECT_EQ(posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ), 0);
        posix_spawn_file_actions_destroy(&actions);
        ::close(pipe_fds[0]);
    }
    ~QemuIoHolder() {
        ::close(commands_);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
    pid_t pid() const { return pid_; }

private:
    int commands_ = -1;
    pid_t pid_ = -1;
};

class DiskLockTest : public ToolstackTest {
protected:
    void SetUp() override {
        ToolstackTest::SetUp();
        if (IsSkipped()) return;
        if (access("/usr/bin/qemu-io", X_OK) != 0 || access("/usr/bin/qemu-img", X_OK) != 0)
            GTEST_SKIP() << "skipped: qemu-img/qemu-io not installed (qemu-utils)";
        ASSERT_EQ(domus({"info"}).status, 0);
    }

    std::string disk_config(const std::string& name, const std::string& kernel,
                            const std::string& disk, const std::string& extra = "") {
        return config(name, "name = \"" + name + "\"\nkernel = \"" + guest_image(kernel) +
                                "\"\nmemory = 64\non_poweroff = \"preserve\"\ndisk = [ '" + disk +
                                "' ]\n" + extra);
    }

    bool listed(const std::string& name) {
        return domus({"list"}).out.find("\n" + name + " ") != std::string::npos;
    }
};

TEST_F(DiskLockTest, ASecondWriterIsRefusedEverywhereAndTheFirstDomainIsUndisturbed) {
    std::string disk = image("shared.qcow2", "32M", "qcow2");
    ASSERT_EQ(domus({"create", disk_config("first", "blk_tool", disk + ",qcow2,xvda,w",
                                           "extra = \"mode=verify size_mb=16 seed=5\"\n")})
                  .status,
              0);
    const std::string holder = disk + " is in use by domain \"first\" (domus-vmm pid ";

    auto r = domus({"create", disk_config("second", "idle", disk + ",qcow2,xvda,w")});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find(holder), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("which has it open for writing"), std::string::npos) << r.err;
    EXPECT_FALSE(listed("second"));

    ASSERT_EQ(domus({"create", idle_config("third")}).status, 0);
    r = domus({"block-attach", "third", disk + ",qcow2,xvdb,w"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find(holder), std::string::npos) << r.err;
    // Read-only too: the writer's changes would be a reader's corruption.
    r = domus({"block-attach", "third", disk + ",qcow2,xvdb,r"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find(holder), std::string::npos) << r.err;

    auto alone = run(guest_image("blk_tool"), {"--store-run-dir", run_dir_, "--domid", "77",
                                               "--disk", disk + ",qcow2,xvda,w"});
    EXPECT_EQ(alone.status, kMonitorError) << alone.out << alone.err;
    EXPECT_NE(alone.err.find(holder), std::string::npos) << alone.err;
    alone = run(guest_image("idle"), {"--emulated-disk", disk});  // the ATA baseline too
    EXPECT_EQ(alone.status, kMonitorError) << alone.out << alone.err;
    EXPECT_NE(alone.err.find(holder), std::string::npos) << alone.err;

    auto io = run_process({"/usr/bin/qemu-io", "-f", "qcow2", "-c", "write 0 4k", disk},
                          std::chrono::seconds(20));
    EXPECT_EQ(io.status, 1) << io.out << io.err;
    EXPECT_NE(io.err.find("Failed to get \"write\" lock"), std::string::npos) << io.err;
    auto info = domus({"image", "info", disk});  // looking is always allowed
    EXPECT_EQ(info.status, 0) << info.err;
    EXPECT_NE(info.out.find("virtual size: 32 MiB"), std::string::npos) << info.out;

    // None of that reached the first domain: its pattern verifies, its image is clean.
    auto console = domus({"console", "first"}, std::chrono::seconds(60));
    EXPECT_NE(console.out.find("blk_tool: PASS"), std::string::npos) << console.out;
    ASSERT_EQ(domus({"destroy", "first"}).status, 0);
    auto check = run_process({"/usr/bin/qemu-img", "check", disk}, std::chrono::seconds(30));
    EXPECT_EQ(check.status, 0) << check.out << check.err;
    // Released with the domain: now the second one gets it.
    r = domus({"create", disk_config("second", "idle", disk + ",qcow2,xvda,w")});
    EXPECT_EQ(r.status, 0) << r.err;
}

TEST_F(DiskLockTest, OneDiskTwiceInADomainIsRefused) {
    std::string disk = image("twice.raw", "16M", "raw");
    auto r =
        domus({"create", config("twice", "name = \"twice\"\nkernel = \"" + guest_image("idle") +
                                             "\"\nmemory = 16\ndisk = [ '" + disk +
                                             ",raw,xvda,w', '" + disk + ",raw,xvdb,w' ]\n")});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find(disk + " is already open for writing in this process, domain \"twice\""),
              std::string::npos)
        << r.err;
    EXPECT_FALSE(listed("twice"));
}

TEST_F(DiskLockTest, ARevertToASnapshotAnotherDomainWritesIsRefusedAndChangesNothing) {
    std::string disk = image("d.qcow2", "16M", "qcow2");
    ASSERT_EQ(domus({"create", disk_config("alpha", "idle", disk + ",qcow2,xvda,w")}).status, 0);
    ASSERT_EQ(domus({"snapshot", "create", "alpha", "s1"}).status, 0);  // d frozen
    ASSERT_EQ(domus({"snapshot", "create", "alpha", "s2"}).status, 0);  // overlay-1 frozen
    ASSERT_EQ(domus({"snapshot", "revert", "alpha", "s1"}).status, 0);  // alpha: overlay-3 on d
    // s2's image is in no chain of alpha's now: another domain may write it (sharing
    // d, its backing file, with alpha as readers).
    std::string s2 = disk + ".snapshots/overlay-1.qcow2";
    auto r = domus({"create", disk_config("beta", "idle", s2 + ",qcow2,xvda,w")});
    ASSERT_EQ(r.status, 0) << r.err;

    r = domus({"snapshot", "revert", "alpha", "s2"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find(s2 + " is in use by domain \"beta\" (domus-vmm pid "), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("which has it open for writing"), std::string::npos) << r.err;
    // alpha still runs on what it had; the refused overlay is gone.
    auto list = domus({"snapshot", "list", "alpha"});
    EXPECT_NE(list.out.find("* xvda   s1"), std::string::npos) << list.out;
    EXPECT_FALSE(std::filesystem::exists(disk + ".snapshots/overlay-4.qcow2"));
    auto disks = domus({"block-list", "alpha", "--json"});
    EXPECT_NE(disks.out.find("overlay-3.qcow2"), std::string::npos) << disks.out;
    // Once beta is gone the same revert goes through.
    ASSERT_EQ(domus({"destroy", "beta"}).status, 0);
    r = domus({"snapshot", "revert", "alpha", "s2"});
    EXPECT_EQ(r.status, 0) << r.err;
}

TEST_F(DiskLockTest, ADomainCannotOpenADiskQemuIoHoldsForWriting) {
    std::string disk = image("held.qcow2", "16M", "qcow2");
    {
        QemuIoHolder qemu_io(disk, "qcow2");
        ASSERT_TRUE(eventually([&] { return held_for_writing(disk); }));
        auto r = domus({"create", disk_config("late", "idle", disk + ",qcow2,xvda,w")});
        EXPECT_NE(r.status, 0);
        EXPECT_NE(r.err.find(disk + " is in use by qemu-io (pid " + std::to_string(qemu_io.pid()) +
                             "), which has it open for writing"),
                  std::string::npos)
            << r.err;
        EXPECT_FALSE(listed("late"));
    }
    EXPECT_TRUE(eventually([&] { return !held_for_writing(disk); }));
    auto r = domus({"create", disk_config("late", "idle", disk + ",qcow2,xvda,w")});
    EXPECT_EQ(r.status, 0) << r.err;
}

TEST_F(DiskLockTest, AReadOnlyDiskIsSharedByTwoDomainsAndRefusedToWriters) {
    std::string disk = image("base.raw", "16M", "raw");
    for (std::string name : {"reader1", "reader2"}) {
        auto r = domus({"create", disk_config(name, "blk_tool", disk + ",raw,xvda,r",
                                              "extra = \"mode=info\"\n")});
        ASSERT_EQ(r.status, 0) << name << ": " << r.err;
        auto console = domus({"console", name}, std::chrono::seconds(30));
        EXPECT_NE(console.out.find("read-only"), std::string::npos) << name << console.out;
    }
    auto r = domus({"create", disk_config("writer", "idle", disk + ",raw,xvda,w")});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find(disk + " is in use by domain \"reader"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("which does not let others write to it"), std::string::npos) << r.err;
    auto io = run_process({"/usr/bin/qemu-io", "-f", "raw", "-c", "write 0 4k", disk},
                          std::chrono::seconds(20));
    EXPECT_EQ(io.status, 1) << io.out << io.err;
    // Reading alongside is fine for QEMU's tools as for domains.
    auto read = run_process({"/usr/bin/qemu-io", "-r", "-f", "raw", "-c", "read 0 4k", disk},
                            std::chrono::seconds(20));
    EXPECT_EQ(read.status, 0) << read.out << read.err;
}

}  // namespace
}  // namespace domus::test
