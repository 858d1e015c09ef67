// `snapshot delete` survives a daemon killed at each of its steps: after the intent,
// after a frozen child got its merged copy, after the monitor streamed into the active
// overlay, after the index was saved. The next daemon finds the intent and finishes the
// delete; then the index no longer names the snapshot, its file is gone, every image of
// the chain passes `qemu-img check`, and every other snapshot and the domain's disk read
// exactly as before.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "toolstack_fixture.hpp"

namespace domus::test {
namespace {

class SnapshotDeleteCrashTest : public ToolstackTest,
                                public ::testing::WithParamInterface<const char*> {
protected:
    void SetUp() override {
        ToolstackTest::SetUp();
        if (IsSkipped()) return;
        if (access("/usr/bin/qemu-img", X_OK) != 0)
            GTEST_SKIP() << "skipped: qemu-img not installed (qemu-utils)";
    }

    nlohmann::json index(const std::string& disk) {
        std::ifstream in(disk + ".snapshots/index.json");
        return nlohmann::json::parse(in, nullptr, false);
    }

    // Every snapshot's content and the active image's, by name ("" for the active one).
    std::map<std::string, std::string> all_contents(const std::string& disk) {
        auto json = index(disk);
        std::map<std::string, std::string> out;
        for (const auto& s : json["snapshots"])
            out[s.value("name", "")] = disk_contents(s.value("image", ""));
        out[""] = disk_contents(json.value("active", ""));
        return out;
    }
};

TEST_P(SnapshotDeleteCrashTest, NextDaemonFinishes) {
    const std::string point = GetParam();
    ASSERT_EQ(domus({"info"}).status, 0);
    std::string disk = image("d.qcow2", "16M", "qcow2");
    std::string cfg =
        config("dc", "name = \"dc\"\nkernel = \"" + guest_image("blk_tool") +
                         "\"\nmemory = 64\non_poweroff = \"preserve\"\ndisk = [ '" + disk +
                         ",qcow2,xvda,w' ]\n" + "extra = \"mode=verify size_mb=16 seed=4\"\n");
    ASSERT_EQ(domus({"create", cfg}).status, 0);
    // root (the disk) <- a (what the guest wrote) <- b; revert to a: a's image has a frozen
    // child (b's) and the active overlay over it, so deleting a takes every step.
    ASSERT_EQ(domus({"snapshot", "create", "dc", "root"}).status, 0);
    auto console = domus({"console", "dc"}, std::chrono::seconds(60));
    ASSERT_NE(console.out.find("blk_tool: PASS"), std::string::npos) << console.out;
    ASSERT_EQ(domus({"snapshot", "create", "dc", "a"}).status, 0);
    ASSERT_EQ(domus({"snapshot", "create", "dc", "b"}).status, 0);
    ASSERT_EQ(domus({"snapshot", "revert", "dc", "a"}).status, 0);
    std::string removed;
    auto listed = index(disk);  // the loop below walks into it: it must outlive the loop
    for (const auto& s : listed["snapshots"])
        if (s.value("name", "") == "a") removed = s.value("image", "");
    auto before = all_contents(disk);
    before.erase("a");

    kill_daemon();
    auto crashed = run_process({"/usr/bin/env", "DOMUS_CRASH_POINT=" + point, domus_binary(),
                                "snapshot", "delete", "dc", "a"},
                               std::chrono::seconds(60));
    EXPECT_NE(crashed.status, 0) << "the daemon did not reach " << point;
    // Killed mid-request, not refused: the command lost its daemon.
    bool lost = crashed.err.find("connection closed") != std::string::npos ||
                crashed.err.find("Connection reset by peer") != std::string::npos;
    EXPECT_TRUE(lost) << crashed.err;
    SCOPED_TRACE("the crashed command said: " + crashed.out + crashed.err);
    kill_daemon();

    // The next command's daemon recovers the domain and finishes the delete.
    auto list = domus({"snapshot", "list", "dc"});
    ASSERT_EQ(list.status, 0) << list.err;
    EXPECT_FALSE(std::filesystem::exists(run_dir_ + "/domains/1/snapshot-intent.json"));
    EXPECT_EQ(list.out.find(" a "), std::string::npos) << list.out;
    EXPECT_FALSE(std::filesystem::exists(removed));
    auto json = index(disk);
    std::set<std::string> known = {json.value("active", "")};
    for (const auto& s : json["snapshots"])
        known.insert(s.value("image", ""));
    for (const auto& file : std::filesystem::directory_iterator(disk + ".snapshots")) {
        if (file.path().filename() == "index.json") continue;
        EXPECT_TRUE(known.count(file.path().string())) << file.path() << " is left over";
        auto check = run_process({"/usr/bin/qemu-img", "check", "-U", file.path().string()},
                                 std::chrono::seconds(30));
        EXPECT_EQ(check.status, 0) << file.path() << ": " << check.out << check.err;
    }
    auto after = all_contents(disk);
    EXPECT_EQ(after.size(), before.size());
    for (const auto& [name, bytes] : before)
        EXPECT_TRUE(after[name] == bytes)
            << (name.empty() ? "the active disk" : name) << " changed";

    if (HasFailure()) {
        for (const std::string& log : {run_dir_ + "/domusd.log", run_dir_ + "/domains/1/vmm.log"}) {
            std::ifstream in(log);
            std::string text((std::istreambuf_iterator<char>(in)), {});
            ADD_FAILURE() << log << ":\n" << text;
        }
    }
    // Snapshots go on working.
    EXPECT_EQ(domus({"snapshot", "revert", "dc", "b"}).status, 0);
    EXPECT_TRUE(disk_contents(index(disk).value("active", "")) == before["b"]);
}

INSTANTIATE_TEST_SUITE_P(Points, SnapshotDeleteCrashTest,
                         ::testing::Values("snapshot-delete-intent-written",
                                           "snapshot-delete-child-merged",
                                           "snapshot-delete-rebased",
                                           "snapshot-delete-index-saved"),
                         [](const auto& info) {
                             std::string name = std::string(info.param).substr(16);
                             std::replace(name.begin(), name.end(), '-', '_');
                             return name;
                         });

}  // namespace
}  // namespace domus::test
