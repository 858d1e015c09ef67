// `domus snapshot delete` on a running domain: a middle snapshot (merged into its frozen
// child), the newest (merged into the active overlay by the monitor while the guest
// writes and then verifies every byte), a branch point after a revert (both at once),
// and the refusals (unknown domain or snapshot, the configured disk, an image another
// process writes). Every remaining snapshot keeps its content byte for byte, every
// image passes `qemu-img check`, and reverting to each remaining snapshot gives it back.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "toolstack_fixture.hpp"

extern char** environ;

namespace domus::test {
namespace {

// `qemu-io -f qcow2 PATH`, holding the image for writing while `commands` stays open.
pid_t spawn_qemu_io(const std::string& path, int commands) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, commands, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    std::vector<std::string> argv = {"/usr/bin/qemu-io", "-f", "qcow2", path};
    std::vector<char*> args;
    for (auto& a : argv)
        args.push_back(a.data());
    args.push_back(nullptr);
    pid_t pid = -1;
    EXPECT_EQ(posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    return pid;
}

class SnapshotDeleteTest : public ToolstackTest {
protected:
    void SetUp() override {
        ToolstackTest::SetUp();
        if (IsSkipped()) return;
        if (access("/usr/bin/qemu-img", X_OK) != 0)
            GTEST_SKIP() << "skipped: qemu-img not installed (qemu-utils)";
        ASSERT_EQ(domus({"info"}).status, 0);
    }

    void expect_check_clean(const std::string& path) {
        auto r = run_process({"/usr/bin/qemu-img", "check", "-U", path}, std::chrono::seconds(30));
        EXPECT_EQ(r.status, 0) << path << ": " << r.out << r.err;
    }

    // name -> image, from `snapshot list --json` (the first disk's rows).
    std::map<std::string, std::string> snapshots(const std::string& domain) {
        auto r = domus({"snapshot", "list", domain, "--json"});
        EXPECT_EQ(r.status, 0) << r.err;
        std::map<std::string, std::string> out;
        auto rows = nlohmann::json::parse(r.out, nullptr, false);
        if (rows.is_array())
            for (const auto& row : rows)
                out[row.value("name", "")] = row.value("image", "");
        return out;
    }

    // The content of every snapshot of `domain`, by name.
    std::map<std::string, std::string> snapshot_contents(const std::string& domain) {
        std::map<std::string, std::string> out;
        for (const auto& [name, image] : snapshots(domain))
            out[name] = disk_contents(image);
        return out;
    }

    // The image the monitor writes (block-list's `params`).
    std::string active_image(const std::string& domain) {
        auto r = domus({"block-list", domain, "--json"});
        auto json = nlohmann::json::parse(r.out, nullptr, false);
        if (json.is_discarded() || !json.is_array() || json.empty()) return "";
        std::string params = json[0].value("params", "");
        return params.substr(params.find(':') + 1);
    }

    // Every image of the disk's directory and the disk itself pass qemu-img check; the
    // directory holds only what the index names (nothing half-made left behind).
    void expect_chain_clean(const std::string& disk) {
        std::ifstream in(disk + ".snapshots/index.json");
        auto index = nlohmann::json::parse(in, nullptr, false);
        ASSERT_FALSE(index.is_discarded());
        std::set<std::string> known = {index.value("active", "")};
        for (const auto& s : index["snapshots"])
            known.insert(s.value("image", ""));
        for (const auto& file : std::filesystem::directory_iterator(disk + ".snapshots")) {
            if (file.path().filename() == "index.json") continue;
            EXPECT_TRUE(known.count(file.path().string())) << file.path() << " is left over";
            expect_check_clean(file.path().string());
        }
    }

    // Reverting to each snapshot gives the domain's disk exactly that snapshot's bytes.
    void expect_reverts_give(const std::string& domain,
                             const std::map<std::string, std::string>& expected) {
        for (const auto& [name, bytes] : expected) {
            auto r = domus({"snapshot", "revert", domain, name});
            ASSERT_EQ(r.status, 0) << r.err;
            EXPECT_TRUE(disk_contents(active_image(domain)) == bytes) << "after revert to " << name;
        }
    }

    std::string blk_tool_domain(const std::string& name, const std::string& disk,
                                const std::string& extra) {
        return config(name, "name = \"" + name + "\"\nkernel = \"" + guest_image("blk_tool") +
                                "\"\nmemory = 64\non_poweroff = \"preserve\"\ndisk = [ '" + disk +
                                ",qcow2,xvda,w' ]\nextra = \"" + extra + "\"\n");
    }
};

TEST_F(SnapshotDeleteTest, MiddleAndNewestWhileTheGuestWrites) {
    std::string disk = image("d.qcow2", "32M", "qcow2");
    ASSERT_EQ(domus({"create", blk_tool_domain("lw", disk,
                                               "mode=verify size_mb=32 block_kb=16 "
                                               "seed=5")})
                  .status,
              0);
    // Three snapshots while the guest writes its pattern: s1 is the disk as configured,
    // s2 and s3 overlays holding what the guest wrote in between.
    for (const char* name : {"s1", "s2", "s3"})
        ASSERT_EQ(domus({"snapshot", "create", "lw", name}).status, 0);
    std::string dir = disk + ".snapshots";
    auto before = snapshot_contents("lw");
    ASSERT_EQ(before.size(), 3u);

    // The middle one: merged into s3's image (a frozen child), while the guest writes.
    auto r = domus({"snapshot", "delete", "lw", "s2"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("deleted s2: 1 disk(s)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("merged into 1 snapshot(s)"), std::string::npos) << r.out;
    EXPECT_FALSE(std::filesystem::exists(dir + "/overlay-1.qcow2"));
    // The newest, which the active overlay sits on: the monitor streams it into the overlay.
    r = domus({"snapshot", "delete", "lw", "s3"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("and the active overlay"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("domain paused 0.00 ms"), std::string::npos) << r.out;
    EXPECT_FALSE(std::filesystem::exists(dir + "/overlay-2.qcow2"));

    // The guest read back every byte it wrote through the chain as it now is.
    auto console = domus({"console", "lw"}, std::chrono::seconds(60));
    EXPECT_NE(console.out.find("blk_tool: PASS"), std::string::npos) << console.out;
    auto after = snapshot_contents("lw");
    ASSERT_EQ(after.size(), 1u);
    EXPECT_TRUE(after["s1"] == before["s1"]);
    auto list = domus({"snapshot", "list", "lw"});
    EXPECT_NE(list.out.find("* xvda   s1"), std::string::npos) << list.out;
    expect_chain_clean(disk);
    expect_reverts_give("lw", {{"s1", before["s1"]}});
}

TEST_F(SnapshotDeleteTest, BranchPointAfterARevertMergesIntoBothBranches) {
    std::string disk = image("d.qcow2", "8M", "qcow2");
    ASSERT_EQ(domus({"create", blk_tool_domain("br", disk,
                                               "mode=randwrite size_mb=8 seconds=2 "
                                               "seed=9")})
                  .status,
              0);
    // root (the disk) <- a <- b <- c; revert to a: the active overlay and b both sit on
    // a's image. Random writes land in each layer meanwhile.
    for (const char* name : {"root", "a", "b", "c"})
        ASSERT_EQ(domus({"snapshot", "create", "br", name}).status, 0);
    ASSERT_EQ(domus({"snapshot", "revert", "br", "a"}).status, 0);
    auto console = domus({"console", "br"}, std::chrono::seconds(60));  // the guest is done
    auto before = snapshot_contents("br");
    std::string active = active_image("br");
    std::string active_before = disk_contents(active);

    auto r = domus({"snapshot", "delete", "br", "a"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("merged into 1 snapshot(s) and the active overlay"), std::string::npos)
        << r.out;
    EXPECT_EQ(active_image("br"), active);
    EXPECT_TRUE(disk_contents(active) == active_before) << "the domain's disk changed";
    // A leaf on the abandoned branch: nothing built on it, it just goes.
    r = domus({"snapshot", "delete", "br", "c"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("0.0 MiB merged"), std::string::npos) << r.out;

    before.erase("a");
    before.erase("c");
    auto after = snapshot_contents("br");
    ASSERT_EQ(after.size(), 2u);
    for (const auto& [name, bytes] : before)
        EXPECT_TRUE(after[name] == bytes) << name << " changed";
    expect_chain_clean(disk);
    expect_reverts_give("br", before);
    expect_chain_clean(disk);
}

TEST_F(SnapshotDeleteTest, RefusalsChangeNothing) {
    std::string disk = image("d.qcow2", "16M", "qcow2");
    std::string raw = image("r.raw", "16M", "raw");
    ASSERT_EQ(domus({"create", idle_config("er", "disk = [ '" + disk + ",qcow2,xvda,w', '" + raw +
                                                     ",raw,xvdb,w' ]\n")})
                  .status,
              0);
    for (const char* name : {"root", "b", "c"})
        ASSERT_EQ(domus({"snapshot", "create", "er", name}).status, 0);
    ASSERT_EQ(domus({"snapshot", "revert", "er", "root"}).status, 0);  // b, c: a side branch
    auto index = [&](const std::string& d) {
        std::ifstream in(d + ".snapshots/index.json");
        return std::string((std::istreambuf_iterator<char>(in)), {});
    };
    std::string index_before = index(disk), raw_index_before = index(raw);

    auto r = domus({"snapshot", "delete", "nosuchdomain", "b"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("nosuchdomain"), std::string::npos) << r.err;
    r = domus({"snapshot", "delete", "er", "nosuch"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("no snapshot \"nosuch\""), std::string::npos) << r.err;
    // The first snapshot is each disk as configured (here a raw file too): the user's.
    r = domus({"snapshot", "delete", "er", "root"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("is the disk image as configured"), std::string::npos) << r.err;
    EXPECT_TRUE(std::filesystem::exists(disk));
    {
        // b's image, on the side branch, written by another process: refused by its lock.
        std::string b = snapshots("er")["b"];
        int pipe_fds[2];
        ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
        auto holder = spawn_qemu_io(b, pipe_fds[0]);
        ::close(pipe_fds[0]);
        ASSERT_TRUE(eventually([&] { return held_for_writing(b); }));
        r = domus({"snapshot", "delete", "er", "b"});
        ::close(pipe_fds[1]);
        int status = 0;
        ::waitpid(holder, &status, 0);
        EXPECT_NE(r.status, 0);
        EXPECT_NE(r.err.find("in use by qemu-io"), std::string::npos) << r.err;
        EXPECT_TRUE(std::filesystem::exists(b));
    }
    EXPECT_EQ(index(disk), index_before);
    EXPECT_EQ(index(raw), raw_index_before);
    EXPECT_FALSE(std::filesystem::exists(run_dir_ + "/domains/1/snapshot-intent.json"));
    // With the lock gone the same delete goes through, on both disks.
    r = domus({"snapshot", "delete", "er", "b"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("deleted b: 2 disk(s)"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace domus::test
