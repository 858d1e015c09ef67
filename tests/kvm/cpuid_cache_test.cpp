// The CPUID cache: used only for the host state it was made in, and only whole, as this
// user's own file; anything else is a miss (KVM is asked again), never an error.
#include "kvm/cpuid_cache.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace domus::kvm {
namespace {

class CpuidCacheTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = ::testing::TempDir() + "cpuid-cache-" + std::to_string(::getpid());
        std::filesystem::create_directories(dir_);
        path_ = dir_ + "/" + kCpuidCacheName;
        for (std::uint32_t leaf = 0; leaf < 5; ++leaf) {
            kvm_cpuid_entry2 entry{};
            entry.function = leaf;
            entry.eax = 0x1000 + leaf;
            entry.edx = 0xdead0000 | leaf;
            entries_.push_back(entry);
        }
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    std::string content() const {
        std::ifstream in(path_, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }
    void rewrite(const std::string& bytes) const {
        std::filesystem::remove(path_);
        std::ofstream(path_, std::ios::binary) << bytes;
    }

    std::string dir_, path_;
    std::vector<kvm_cpuid_entry2> entries_;
};

TEST_F(CpuidCacheTest, NamesThisBootAndKvmsModules) {
    std::string identity = host_cpuid_identity();
    std::ifstream boot_id("/proc/sys/kernel/random/boot_id");
    std::string boot;
    std::getline(boot_id, boot);
    EXPECT_NE(identity.find("boot=" + boot), std::string::npos) << identity;
    EXPECT_NE(identity.find(" kvm="), std::string::npos) << identity;
    EXPECT_EQ(identity, host_cpuid_identity());  // the same host state, the same name
}

TEST_F(CpuidCacheTest, GivesBackWhatWasStoredForTheSameHostState) {
    ASSERT_TRUE(store_cached_cpuid(path_, "host-a", entries_));
    auto loaded = load_cached_cpuid(path_, "host-a");
    ASSERT_TRUE(loaded);
    ASSERT_EQ(loaded->size(), entries_.size());
    for (std::size_t i = 0; i < entries_.size(); ++i) {
        EXPECT_EQ((*loaded)[i].function, entries_[i].function);
        EXPECT_EQ((*loaded)[i].eax, entries_[i].eax);
        EXPECT_EQ((*loaded)[i].edx, entries_[i].edx);
    }
    // Nothing but the file itself is left in the directory.
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 1);
}

TEST_F(CpuidCacheTest, AnotherHostStateIsAMiss) {
    ASSERT_TRUE(store_cached_cpuid(path_, "boot=1 kvm=10", entries_));
    EXPECT_FALSE(load_cached_cpuid(path_, "boot=1 kvm=11"));  // KVM reloaded
    EXPECT_FALSE(load_cached_cpuid(path_, "boot=2 kvm=10"));  // rebooted
    EXPECT_FALSE(load_cached_cpuid(path_, "boot=1"));         // a prefix is not the name
    EXPECT_FALSE(load_cached_cpuid(dir_ + "/missing", "boot=1 kvm=10"));
}

TEST_F(CpuidCacheTest, AFileCutShortOrGrownIsAMiss) {
    ASSERT_TRUE(store_cached_cpuid(path_, "host", entries_));
    std::string whole = content();
    rewrite(whole.substr(0, whole.size() - sizeof(kvm_cpuid_entry2)));  // one entry short
    EXPECT_FALSE(load_cached_cpuid(path_, "host"));
    rewrite(whole.substr(0, whole.size() - 3));
    EXPECT_FALSE(load_cached_cpuid(path_, "host"));
    rewrite(whole + std::string(sizeof(kvm_cpuid_entry2), '\0'));
    EXPECT_FALSE(load_cached_cpuid(path_, "host"));
    rewrite(whole.substr(0, whole.find('\n')));  // the header alone, no newline
    EXPECT_FALSE(load_cached_cpuid(path_, "host"));
    rewrite("domus-kvm-cpuid 1 host entries=99999999999999999999\n");
    EXPECT_FALSE(load_cached_cpuid(path_, "host"));
    rewrite("domus-kvm-cpuid 1 host entries=x\n");
    EXPECT_FALSE(load_cached_cpuid(path_, "host"));
    rewrite(whole);
    EXPECT_TRUE(load_cached_cpuid(path_, "host"));
}

TEST_F(CpuidCacheTest, AFileOthersCanWriteOrALinkIsNotTrusted) {
    ASSERT_TRUE(store_cached_cpuid(path_, "host", entries_));
    ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);
    EXPECT_FALSE(load_cached_cpuid(path_, "host"));
    ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
    EXPECT_TRUE(load_cached_cpuid(path_, "host"));
    std::string link = dir_ + "/link";
    std::filesystem::create_symlink(path_, link);
    EXPECT_FALSE(load_cached_cpuid(link, "host"));
}

TEST_F(CpuidCacheTest, NothingToStoreOrNowhereToStoreItIsAFailureNotAnError) {
    EXPECT_FALSE(store_cached_cpuid(path_, "host", {}));
    EXPECT_FALSE(store_cached_cpuid(dir_ + "/missing/cache", "host", entries_));
    EXPECT_FALSE(std::filesystem::exists(path_));
}

}  // namespace
}  // namespace domus::kvm
