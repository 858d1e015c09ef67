// replace_file_durably and replace_file_atomically: the whole new content or an error, nothing left
// beside it.
#include "base/durable_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace domus {
namespace {

std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

TEST(DurableFile, ReplacesTheWholeContentAndLeavesNoTemporary) {
    std::string dir = ::testing::TempDir() + "durable-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    std::string path = dir + "/record.json";
    ASSERT_TRUE(replace_file_durably(path, "first, and longer\n"));
    ASSERT_TRUE(replace_file_durably(path, "second\n"));
    EXPECT_EQ(read(path), "second\n");
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
    std::filesystem::remove_all(dir);
}

TEST(DurableFile, AtomicReplacementToo) {
    std::string dir = ::testing::TempDir() + "atomic-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    std::string path = dir + "/record.json";
    ASSERT_TRUE(replace_file_atomically(path, "first, and longer\n"));
    ASSERT_TRUE(replace_file_atomically(path, "second\n"));
    EXPECT_EQ(read(path), "second\n");
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
    EXPECT_FALSE(replace_file_atomically("/nonexistent-domus-dir/x.json", "x"));
    std::filesystem::remove_all(dir);
}

TEST(DurableFile, AMissingDirectoryIsAnErrorNamingIt) {
    auto written = replace_file_durably("/nonexistent-domus-dir/x.json", "x");
    ASSERT_FALSE(written);
    EXPECT_NE(written.error().message.find("/nonexistent-domus-dir/x.json"), std::string::npos)
        << written.error().message;
}

}  // namespace
}  // namespace domus
