// replace_file_durably and replace_file_atomically: the whole new content or an error, nothing left
// beside it (the temporary is removed when a write or the rename fails).
#include "base/durable_file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace domus {
namespace {

// The files in dir: the record alone once a replacement is done.
std::size_t files_in(const std::string& dir) {
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir))
        ++files;
    return files;
}

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
    EXPECT_EQ(files_in(dir), 1u);
    std::filesystem::remove_all(dir);
}

TEST(DurableFile, AtomicReplacementToo) {
    std::string dir = ::testing::TempDir() + "atomic-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    std::string path = dir + "/record.json";
    ASSERT_TRUE(replace_file_atomically(path, "first, and longer\n"));
    ASSERT_TRUE(replace_file_atomically(path, "second\n"));
    EXPECT_EQ(read(path), "second\n");
    EXPECT_EQ(files_in(dir), 1u);
    EXPECT_FALSE(replace_file_atomically("/nonexistent-domus-dir/x.json", "x"));
    std::filesystem::remove_all(dir);
}

TEST(DurableFile, AFailedReplacementLeavesTheOldContentAndNoTemporary) {
    std::string dir = ::testing::TempDir() + "failed-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    std::string path = dir + "/record.json";
    ASSERT_TRUE(replace_file_atomically(path, "old\n"));
    // A directory where the record should go: the rename fails, after the write.
    std::string blocked = dir + "/blocked";
    std::filesystem::create_directories(blocked + "/inside");
    EXPECT_FALSE(replace_file_atomically(blocked, "new\n"));
    EXPECT_EQ(read(path), "old\n");
    EXPECT_EQ(files_in(dir), 2u);  // the record and the directory, no temporary
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
