// The snapshot intent: written and read back whole, a damaged one refused, and the
// recovery's decision from the images the monitor reports.
#include "toolstack/snapshot_journal.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace domus::toolstack {
namespace {

SnapshotIntent two_disks() {
    SnapshotIndex index;
    index.dir = "/img/a.qcow2.snapshots";
    index.disk = "/img/a.qcow2";
    index.active = "/img/a.qcow2.snapshots/overlay-2.qcow2";
    index.active_format = "qcow2";
    index.based_on = "s1";
    index.next_overlay = 3;
    index.snapshots = {{"s1", "/img/a.qcow2", "qcow2", 5.0}};
    SnapshotIntent intent{"create", "s1", {}};
    auto disk = [&](std::size_t number, std::string vdev, std::string overlay, std::string spec,
                    std::string abandoned) {
        SnapshotIntent::Disk& d = intent.disks.emplace_back();
        d.disk = number;
        d.vdev = std::move(vdev);
        d.overlay = std::move(overlay);
        d.spec = std::move(spec);
        d.abandoned = std::move(abandoned);
        d.index = index;
    };
    disk(0, "xvda", index.active, "/img/x,qcow2,xvda,w", "");
    index.dir = "/img/b.raw.snapshots";
    disk(1, "xvdb", "/img/b.raw.snapshots/overlay-1.qcow2", "spec-b", "/img/old.qcow2");
    return intent;
}

struct JournalTest : ::testing::Test {
    std::string dir = ::testing::TempDir() + "journal-" + std::to_string(::getpid());
    std::string path = dir + "/snapshot-intent.json";
    void SetUp() override { std::filesystem::create_directories(dir); }
    void TearDown() override { std::filesystem::remove_all(dir); }
};

TEST_F(JournalTest, AnIntentReadsBackAsItWasWritten) {
    auto intent = two_disks();
    ASSERT_TRUE(write_snapshot_intent(path, intent));
    auto read = read_snapshot_intent(path);
    ASSERT_TRUE(read && *read) << (read ? "" : read.error().message);
    const auto& back = **read;
    EXPECT_EQ(back.operation, "create");
    EXPECT_EQ(back.name, "s1");
    ASSERT_EQ(back.disks.size(), 2u);
    EXPECT_EQ(back.disks[1].disk, 1u);
    EXPECT_EQ(back.disks[1].abandoned, "/img/old.qcow2");
    EXPECT_EQ(back.disks[1].index.dir, "/img/b.raw.snapshots");
    EXPECT_EQ(back.disks[0].index.snapshots, intent.disks[0].index.snapshots);
    EXPECT_EQ(back.disks[0].index.next_overlay, 3u);
}

TEST_F(JournalTest, ADeleteIntentKeepsItsMergePlan) {
    auto intent = two_disks();
    intent.operation = "delete";
    auto& d = intent.disks[0];
    d.removed = "/img/a.qcow2.snapshots/overlay-2.qcow2";
    d.backing = "/img/a.qcow2.snapshots/overlay-1.qcow2";
    d.backing_format = "qcow2";
    d.children = {"/img/a.qcow2.snapshots/overlay-3.qcow2",
                  "/img/a.qcow2.snapshots/overlay-5.qcow2"};
    d.active_child = true;
    ASSERT_TRUE(write_snapshot_intent(path, intent));
    auto read = read_snapshot_intent(path);
    ASSERT_TRUE(read && *read) << (read ? "" : read.error().message);
    const auto& back = (**read).disks[0];
    EXPECT_EQ((**read).operation, "delete");
    EXPECT_EQ(back.removed, d.removed);
    EXPECT_EQ(back.backing, d.backing);
    EXPECT_EQ(back.backing_format, "qcow2");
    EXPECT_EQ(back.children, d.children);
    EXPECT_TRUE(back.active_child);
    EXPECT_TRUE((**read).disks[1].children.empty());
    EXPECT_FALSE((**read).disks[1].active_child);
}

TEST_F(JournalTest, NoIntentIsNothingAndADamagedOneIsAnError) {
    auto none = read_snapshot_intent(path);
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none);
    std::ofstream(path) << "{\"operation\": \"create\", \"disks\": [";
    auto damaged = read_snapshot_intent(path);
    ASSERT_FALSE(damaged);
    EXPECT_NE(damaged.error().message.find(path), std::string::npos) << damaged.error().message;
}

TEST(SnapshotIntentSwitched, AllSwitchedNoneSwitchedOrAnError) {
    auto intent = two_disks();
    std::string a = intent.disks[0].overlay, b = intent.disks[1].overlay;
    EXPECT_TRUE(*snapshot_intent_switched(intent, {{"xvda", a}, {"xvdb", b}, {"xvdc", "/x"}}));
    EXPECT_FALSE(*snapshot_intent_switched(intent, {{"xvda", "/img/a.qcow2"}, {"xvdb", "/b"}}));
    EXPECT_FALSE(snapshot_intent_switched(intent, {{"xvda", a}, {"xvdb", "/img/b.raw"}}));
    EXPECT_FALSE(*snapshot_intent_switched(intent, {}));  // the disks are gone: nothing switched
}

}  // namespace
}  // namespace domus::toolstack
