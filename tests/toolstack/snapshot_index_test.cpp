// SnapshotIndex: where a disk's snapshots live, names, and index.json round trips and
// damage.
#include "toolstack/snapshot_index.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace domus::toolstack {
namespace {

class SnapshotIndexTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = ::testing::TempDir() + "snapshot-index-" + std::to_string(::getpid());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        disk_ = dir_ + "/vm.qcow2";
        std::ofstream(disk_) << "x";
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::string dir_;
    std::string disk_;
};

TEST_F(SnapshotIndexTest, ADiskWithoutSnapshotsGetsAFreshIndexNextToIt) {
    auto index = load_snapshot_index(disk_, "qcow2");
    ASSERT_TRUE(index) << index.error().message;
    EXPECT_EQ(index->dir, disk_ + ".snapshots");
    EXPECT_EQ(index->disk, disk_);
    EXPECT_EQ(index->active, disk_);
    EXPECT_TRUE(index->snapshots.empty());
    EXPECT_FALSE(std::filesystem::exists(index->dir));  // nothing written yet
    EXPECT_FALSE(index->active_is_overlay());
}

TEST_F(SnapshotIndexTest, SavedIndexIsFoundAgainFromTheActiveOverlay) {
    auto index = load_snapshot_index(disk_, "qcow2").value();
    std::string overlay = index.take_overlay_path();
    EXPECT_EQ(overlay, disk_ + ".snapshots/overlay-1.qcow2");
    index.snapshots.push_back({"clean", disk_, "qcow2", 1000.5});
    index.active = overlay;
    index.active_format = "qcow2";
    index.based_on = "clean";
    ASSERT_TRUE(save_snapshot_index(index));
    EXPECT_TRUE(index.active_is_overlay());

    EXPECT_EQ(snapshot_dir_for(overlay), disk_ + ".snapshots");
    auto again = load_snapshot_index(overlay, "qcow2");
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(again->disk, disk_);
    EXPECT_EQ(again->based_on, "clean");
    EXPECT_EQ(again->next_overlay, 2u);
    ASSERT_EQ(again->snapshots.size(), 1u);
    EXPECT_EQ(again->snapshots[0], (Snapshot{"clean", disk_, "qcow2", 1000.5}));
    ASSERT_NE(again->find("clean"), nullptr);
    EXPECT_EQ(again->find("other"), nullptr);
}

TEST_F(SnapshotIndexTest, AnIndexThatDisagreesWithTheDomainIsAnError) {
    auto index = load_snapshot_index(disk_, "qcow2").value();
    index.active = index.take_overlay_path();
    ASSERT_TRUE(save_snapshot_index(index));
    // The domain still names an overlay the index no longer calls active.
    auto stale = load_snapshot_index(disk_ + ".snapshots/overlay-7.qcow2", "qcow2");
    ASSERT_FALSE(stale);
    EXPECT_NE(stale.error().message.find("active image"), std::string::npos);
}

TEST_F(SnapshotIndexTest, ADamagedIndexIsReportedNotTrusted) {
    std::filesystem::create_directories(disk_ + ".snapshots");
    for (const char* text : {"", "[1,2]", "{\"disk\": 5}", "{not json"}) {
        std::ofstream(disk_ + ".snapshots/index.json") << text;
        std::string overlay = disk_ + ".snapshots/overlay-1.qcow2";
        auto index = load_snapshot_index(overlay, "qcow2");
        ASSERT_FALSE(index) << text;
        EXPECT_NE(index.error().message.find("damaged"), std::string::npos)
            << index.error().message;
    }
}

TEST(SnapshotName, OnlyPlainNames) {
    for (const char* good : {"clean", "before-upgrade", "v1.2_rc3", "a"})
        EXPECT_TRUE(check_snapshot_name(good)) << good;
    for (const char* bad : {"", "../escape", "a/b", ".hidden", "-flag", "with space", "ü"})
        EXPECT_FALSE(check_snapshot_name(bad)) << bad;
    EXPECT_FALSE(check_snapshot_name(std::string(65, 'a')));
    EXPECT_TRUE(check_snapshot_name(std::string(64, 'a')));
}

}  // namespace
}  // namespace domus::toolstack
