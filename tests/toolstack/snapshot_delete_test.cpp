// plan_snapshot_delete: which images a delete merges into for each position of the
// snapshot (middle, under the active overlay, a branch point after a revert, a leaf on
// another branch), what the index looks like afterwards, and what is refused.
#include "toolstack/snapshot_delete.hpp"

#include <gtest/gtest.h>

#include <map>

namespace domus::toolstack {
namespace {

// D (the configured disk) <- o1 (a) <- o2 (b) <- o3 (c) <- o5 (active)
//                              o1 <- o4 (d, a branch after a revert to a)
struct Fixture {
    std::string dir = "/img/vm.qcow2.snapshots";
    std::string disk = "/img/vm.qcow2";
    std::string o(int n) const { return dir + "/overlay-" + std::to_string(n) + ".qcow2"; }
    std::map<std::string, std::string> backing = {
        {o(1), disk}, {o(2), o(1)}, {o(3), o(2)}, {o(4), o(1)}, {o(5), o(3)}};
    SnapshotIndex index;
    BackingLookup lookup = [this](const std::string& image) -> Result<BackingFile> {
        auto it = backing.find(image);
        if (it == backing.end()) return BackingFile{};
        return BackingFile{it->second, "qcow2"};
    };
    Fixture() {
        index.dir = dir;
        index.disk = disk;
        index.active = o(5);
        index.active_format = "qcow2";
        index.based_on = "c";
        index.next_overlay = 6;
        index.snapshots = {{"root", disk, "qcow2", 1},
                           {"a", o(1), "qcow2", 2},
                           {"b", o(2), "qcow2", 3},
                           {"c", o(3), "qcow2", 4},
                           {"d", o(4), "qcow2", 5}};
    }
    std::vector<std::string> names(const SnapshotIndex& i) const {
        std::vector<std::string> out;
        for (const auto& s : i.snapshots)
            out.push_back(s.name);
        return out;
    }
};

TEST(SnapshotDeletePlan, MiddleSnapshotStreamsIntoItsOneFrozenChild) {
    Fixture f;
    auto plan = plan_snapshot_delete(f.index, "b", f.lookup);
    ASSERT_TRUE(plan) << plan.error().message;
    EXPECT_EQ(plan->removed, f.o(2));
    EXPECT_EQ(plan->backing.path, f.o(1));
    EXPECT_EQ(plan->children, std::vector<std::string>{f.o(3)});
    EXPECT_FALSE(plan->active_child);
    EXPECT_EQ(f.names(plan->index), (std::vector<std::string>{"root", "a", "c", "d"}));
    EXPECT_EQ(plan->index.based_on, "c");
    EXPECT_EQ(plan->index.active, f.o(5));
}

TEST(SnapshotDeletePlan, SnapshotUnderTheActiveOverlayStreamsIntoIt) {
    Fixture f;
    auto plan = plan_snapshot_delete(f.index, "c", f.lookup);
    ASSERT_TRUE(plan) << plan.error().message;
    EXPECT_TRUE(plan->children.empty());
    EXPECT_TRUE(plan->active_child);
    EXPECT_EQ(plan->backing.path, f.o(2));
    EXPECT_EQ(plan->index.based_on, "b");  // the overlay reads through b's image now
}

TEST(SnapshotDeletePlan, BranchPointStreamsIntoEveryChild) {
    Fixture f;
    auto plan = plan_snapshot_delete(f.index, "a", f.lookup);
    ASSERT_TRUE(plan) << plan.error().message;
    EXPECT_EQ(plan->children, (std::vector<std::string>{f.o(2), f.o(4)}));
    EXPECT_FALSE(plan->active_child);
    EXPECT_EQ(plan->backing.path, f.disk);
}

TEST(SnapshotDeletePlan, LeafOnAnotherBranchHasNothingToMerge) {
    Fixture f;
    auto plan = plan_snapshot_delete(f.index, "d", f.lookup);
    ASSERT_TRUE(plan) << plan.error().message;
    EXPECT_TRUE(plan->children.empty());
    EXPECT_FALSE(plan->active_child);
    EXPECT_EQ(f.names(plan->index), (std::vector<std::string>{"root", "a", "b", "c"}));
}

TEST(SnapshotDeletePlan, TheConfiguredDiskIsRefusedWithTheReason) {
    Fixture f;
    auto plan = plan_snapshot_delete(f.index, "root", f.lookup);
    ASSERT_FALSE(plan);
    EXPECT_NE(plan.error().message.find("the disk image as configured"), std::string::npos)
        << plan.error().message;
}

TEST(SnapshotDeletePlan, UnknownNameIsRefused) {
    Fixture f;
    auto plan = plan_snapshot_delete(f.index, "nosuch", f.lookup);
    ASSERT_FALSE(plan);
    EXPECT_NE(plan.error().message.find("no snapshot \"nosuch\""), std::string::npos);
}

TEST(SnapshotDeletePlan, ImageOutsideTheIndexDirectoryIsRefused) {
    Fixture f;
    f.index.snapshots[2].image = "/elsewhere/b.qcow2";
    f.backing["/elsewhere/b.qcow2"] = f.o(1);
    auto plan = plan_snapshot_delete(f.index, "b", f.lookup);
    ASSERT_FALSE(plan);
    EXPECT_NE(plan.error().message.find("is not in"), std::string::npos) << plan.error().message;
}

TEST(SnapshotDeletePlan, ImageWithoutBackingFileIsRefused) {
    Fixture f;
    f.backing.erase(f.o(2));
    auto plan = plan_snapshot_delete(f.index, "b", f.lookup);
    ASSERT_FALSE(plan);
    EXPECT_NE(plan.error().message.find("no backing file"), std::string::npos);
}

TEST(SnapshotDeletePlan, AHeaderThatCannotBeReadIsAnError) {
    Fixture f;
    f.lookup = [](const std::string& image) -> Result<BackingFile> {
        return make_error("cannot read {}", image);
    };
    EXPECT_FALSE(plan_snapshot_delete(f.index, "b", f.lookup));
}

}  // namespace
}  // namespace domus::toolstack
