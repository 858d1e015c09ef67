// Tests for toolstack/cgroup: finding the cpu hierarchy in mountinfo, the weight and cap
// mappings, and a domain's group on fake v1 and v2 trees (plain files in a temp dir).
#include "toolstack/cgroup.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace domus::toolstack {
namespace {

namespace fs = std::filesystem;

// This machine's kind: a hybrid host, cpu in v1, an empty unified hierarchy beside it.
constexpr std::string_view kHybrid =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
constexpr std::string_view kUnified =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "25 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev shared:9 - cgroup2 cgroup2 rw,nsdelegate\n";
constexpr std::string_view kCombined =
    "30 25 0:26 / /sys/fs/cgroup/cpu\\040acct rw shared:12 - cgroup cgroup rw,cpu,cpuacct\n";

TEST(Cgroup, FindsTheHierarchyWithTheCpuController) {
    auto hybrid = find_cpu_cgroup_mount(kHybrid);
    ASSERT_TRUE(hybrid) << hybrid.error().message;
    EXPECT_EQ(hybrid->version, CgroupVersion::V1);
    EXPECT_EQ(hybrid->root, "/sys/fs/cgroup/cpu");
    auto unified = find_cpu_cgroup_mount(kUnified);
    ASSERT_TRUE(unified) << unified.error().message;
    EXPECT_EQ(unified->version, CgroupVersion::V2);
    EXPECT_EQ(unified->root, "/sys/fs/cgroup");
    auto combined = find_cpu_cgroup_mount(kCombined);
    ASSERT_TRUE(combined) << combined.error().message;
    EXPECT_EQ(combined->root, "/sys/fs/cgroup/cpu acct");  // mountinfo's \040 is a space
    auto none = find_cpu_cgroup_mount(
        "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n");
    ASSERT_FALSE(none);
    EXPECT_NE(none.error().message.find("no cgroup hierarchy with the cpu controller"),
              std::string::npos);
}

TEST(Cgroup, ThisHostsHierarchyIsACgroupFileSystem) {
    auto mount = detect_cpu_cgroup_mount();
    if (!mount) GTEST_SKIP() << "no cpu cgroup here: " << mount.error().message;
    EXPECT_TRUE(fs::is_directory(mount->root));
}

TEST(Cgroup, WeightAndCapMappings) {
    EXPECT_EQ(weight_to_shares(kDefaultWeight), 1024u);  // the cgroup default
    EXPECT_EQ(weight_to_shares(1), 4u);
    EXPECT_EQ(weight_to_shares(kMaxWeight), 262140u);  // inside cpu.shares' 2..262144
    EXPECT_EQ(weight_to_cpu_weight(kDefaultWeight), 100u);
    EXPECT_EQ(weight_to_cpu_weight(512), 200u);
    EXPECT_EQ(weight_to_cpu_weight(1), 1u);  // clamped up from 0
    EXPECT_EQ(weight_to_cpu_weight(kMaxWeight), 10000u);
    EXPECT_EQ(cap_to_quota_us(50), 50'000u);
    EXPECT_EQ(cap_to_quota_us(250), 250'000u);  // 2.5 CPUs per 100 ms period
}

class FakeTree : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = fs::path(::testing::TempDir()) /
                ("cgroup-test-" + std::to_string(::getpid()) + "-" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(root_);
        fs::create_directories(root_);
    }
    void TearDown() override { fs::remove_all(root_); }

    std::string read(const fs::path& path) {
        std::ifstream in(path);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }
    CpuCgroupMount mount(CgroupVersion version) { return {version, root_.string()}; }

    fs::path root_;
};

using CgroupV1 = FakeTree;

TEST_F(CgroupV1, ADomainsGroupHoldsItsVcpusWeightAndCap) {
    auto group = DomainCgroup::create(mount(CgroupVersion::V1), "domus-test/run1", 7);
    ASSERT_TRUE(group) << group.error().message;
    fs::path dom = root_ / "domus-test/run1/dom7";
    EXPECT_EQ(group->path(), dom.string());
    EXPECT_EQ(group->vcpu_group(), dom.string());
    ASSERT_TRUE(fs::is_directory(dom));
    ASSERT_TRUE(group->add_monitor(1234));  // v1: only vCPU threads move
    EXPECT_FALSE(fs::exists(dom / "cgroup.procs"));
    ASSERT_TRUE(group->add_vcpu_thread(4321));
    EXPECT_EQ(read(dom / "tasks"), "4321");
    ASSERT_TRUE(group->set({512, 50}));
    EXPECT_EQ(read(dom / "cpu.shares"), "2048");
    EXPECT_EQ(read(dom / "cpu.cfs_period_us"), "100000");
    EXPECT_EQ(read(dom / "cpu.cfs_quota_us"), "50000");
    ASSERT_TRUE(group->set({256, 0}));
    EXPECT_EQ(read(dom / "cpu.shares"), "1024");
    EXPECT_EQ(read(dom / "cpu.cfs_quota_us"), "-1");  // no cap
    // A restarted domusd finds it again.
    auto again = DomainCgroup::create(mount(CgroupVersion::V1), "domus-test/run1", 7);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(read(dom / "cpu.shares"), "1024");
    ASSERT_TRUE(group->remove());
    EXPECT_FALSE(fs::exists(dom));
    EXPECT_TRUE(group->remove());  // already gone: fine
    ASSERT_TRUE(remove_cgroup_parent(mount(CgroupVersion::V1), "domus-test/run1"));
    EXPECT_FALSE(fs::exists(root_ / "domus-test/run1"));
    EXPECT_TRUE(fs::exists(root_ / "domus-test"));
}

TEST_F(CgroupV1, ErrorsNameTheFileAndTheErrno) {
    std::ofstream(root_ / "plain");  // a file where a directory should be
    auto bad_root = DomainCgroup::create({CgroupVersion::V1, (root_ / "plain").string()}, "p", 1);
    ASSERT_FALSE(bad_root);
    EXPECT_EQ(bad_root.error().message,
              "mkdir " + (root_ / "plain/p").string() + ": Not a directory");
    auto group = DomainCgroup::create(mount(CgroupVersion::V1), "p", 1);
    ASSERT_TRUE(group) << group.error().message;
    fs::create_directory(root_ / "p/dom1/tasks");
    auto moved = group->add_vcpu_thread(99);
    ASSERT_FALSE(moved);
    EXPECT_EQ(moved.error().message,
              "open " + (root_ / "p/dom1/tasks").string() + ": Is a directory");
    for (const char* parent : {"", "/abs", "a/../b", "a//b"}) {
        auto refused = DomainCgroup::create(mount(CgroupVersion::V1), parent, 1);
        ASSERT_FALSE(refused) << parent;
        EXPECT_EQ(refused.error().message.rfind("cgroup parent \"", 0), 0u) << parent;
    }
}

TEST_F(CgroupV1, AParentWithGroupsAKilledDaemonLeftIsRemovedWhole) {
    for (std::uint16_t domid : {3, 12})
        ASSERT_TRUE(DomainCgroup::create(mount(CgroupVersion::V1), "left", domid));
    fs::create_directory(root_ / "left/domX");  // not a domain's: kept, so the parent stays
    EXPECT_EQ(domain_cgroups(mount(CgroupVersion::V1), "left"),
              (std::vector<std::uint16_t>{3, 12}));
    auto removed = remove_cgroup_parent(mount(CgroupVersion::V1), "left");
    EXPECT_FALSE(removed);
    EXPECT_FALSE(fs::exists(root_ / "left/dom3"));
    fs::remove(root_ / "left/domX");
    EXPECT_TRUE(remove_cgroup_parent(mount(CgroupVersion::V1), "left"));
    EXPECT_FALSE(fs::exists(root_ / "left"));
}

TEST(Cgroup, EachRunDirectoryHasItsOwnDefaultParent) {
    EXPECT_EQ(default_cgroup_parent("/run/domus"), "domus");
    EXPECT_EQ(default_cgroup_parent("/run/domus/"), "domus");
    EXPECT_EQ(default_cgroup_parent("/tmp/domus-run-12-Test_A"), "domus-tmp-domus-run-12-Test_A");
    EXPECT_EQ(default_cgroup_parent("/tmp/a b/c"), "domus-tmp-a-b-c");
    EXPECT_NE(default_cgroup_parent("/tmp/a"), default_cgroup_parent("/tmp/b"));
    std::string long_dir = "/" + std::string(300, 'x');
    EXPECT_LE(default_cgroup_parent(long_dir).size(), 200u);
    EXPECT_NE(default_cgroup_parent(long_dir), default_cgroup_parent(long_dir + "y"));
}

using CgroupV2 = FakeTree;

TEST_F(CgroupV2, AThreadedSubtreeForTheVcpus) {
    auto group = DomainCgroup::create(mount(CgroupVersion::V2), "domus-test", 3);
    ASSERT_TRUE(group) << group.error().message;
    fs::path dom = root_ / "domus-test/dom3";
    EXPECT_EQ(group->vcpu_group(), (dom / "vcpus").string());
    // The cpu controller delegated from the root down to the domain group.
    EXPECT_EQ(read(root_ / "cgroup.subtree_control"), "+cpu");
    EXPECT_EQ(read(root_ / "domus-test/cgroup.subtree_control"), "+cpu");
    EXPECT_EQ(read(dom / "cgroup.subtree_control"), "+cpu");
    EXPECT_EQ(read(dom / "vcpus/cgroup.type"), "threaded");
    ASSERT_TRUE(group->add_monitor(1234));
    EXPECT_EQ(read(dom / "cgroup.procs"), "1234");
    ASSERT_TRUE(group->add_vcpu_thread(4321));
    EXPECT_EQ(read(dom / "vcpus/cgroup.threads"), "4321");
    ASSERT_TRUE(group->set({512, 50}));
    EXPECT_EQ(read(dom / "cpu.weight"), "200");
    EXPECT_EQ(read(dom / "vcpus/cpu.max"), "50000 100000");
    ASSERT_TRUE(group->set({256, 0}));
    EXPECT_EQ(read(dom / "cpu.weight"), "100");
    EXPECT_EQ(read(dom / "vcpus/cpu.max"), "max 100000");
    ASSERT_TRUE(group->remove());
    EXPECT_FALSE(fs::exists(dom));
    ASSERT_TRUE(remove_cgroup_parent(mount(CgroupVersion::V2), "domus-test"));
    EXPECT_FALSE(fs::exists(root_ / "domus-test"));
}

// A group just made holds the kernel's defaults: setting the default weight and no cap
// writes nothing (a CFS bandwidth write is costly); once anything was set, or for a
// group that existed (a restarted domusd's), every set writes.
TEST_F(CgroupV2, TheDefaultsOfANewGroupAreNotWrittenAgain) {
    auto group = DomainCgroup::create(mount(CgroupVersion::V2), "domus-test", 4);
    ASSERT_TRUE(group) << group.error().message;
    fs::path dom = root_ / "domus-test/dom4";
    ASSERT_TRUE(group->set({kDefaultWeight, 0}));
    EXPECT_FALSE(fs::exists(dom / "cpu.weight"));
    EXPECT_FALSE(fs::exists(dom / "vcpus/cpu.max"));
    ASSERT_TRUE(group->set({512, 0}));
    ASSERT_TRUE(group->set({kDefaultWeight, 0}));  // back to the default: written
    EXPECT_EQ(read(dom / "cpu.weight"), "100");
    EXPECT_EQ(read(dom / "vcpus/cpu.max"), "max 100000");
    std::ofstream(dom / "cpu.weight") << "300";
    auto found = DomainCgroup::create(mount(CgroupVersion::V2), "domus-test", 4);  // again
    ASSERT_TRUE(found) << found.error().message;
    ASSERT_TRUE(found->set({kDefaultWeight, 0}));
    EXPECT_EQ(read(dom / "cpu.weight"), "100");
}

TEST_F(CgroupV2, ControllersAlreadyDelegatedAreLeftAlone) {
    std::ofstream(root_ / "cgroup.subtree_control") << "cpuset cpu io memory pids\n";
    auto group = DomainCgroup::create(mount(CgroupVersion::V2), "d", 1);
    ASSERT_TRUE(group) << group.error().message;
    EXPECT_EQ(read(root_ / "cgroup.subtree_control"), "cpuset cpu io memory pids\n");
}

}  // namespace
}  // namespace domus::toolstack
