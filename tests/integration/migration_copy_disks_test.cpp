// `domus migrate --copy-disks` end to end (docs/migration.md "Copying disks"): two hosts
// with image directories of their own; a raw disk and a qcow2 overlay on a backing file
// move with the domain, which goes on there on its own copies (the guest verifies what it
// wrote before the move; data it never touched reads back through the copied chain); a
// file in the way on the destination is not overwritten and the source runs on.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "two_hosts_fixture.hpp"

namespace domus::test {
namespace {

constexpr std::size_t kPatternAt = 2 << 20;  // past the 1 MiB the guest writes
constexpr std::size_t kPatternSize = 256 << 10;

class MigrationCopyDisksTest : public TwoHostsTest {
protected:
    void SetUp() override {
        TwoHostsTest::SetUp();
        if (IsSkipped()) return;
        source_images_ = run_dir_ + "/images";
        destination_images_ = second_->dir() + "/images";
        std::filesystem::create_directories(source_images_);
        std::filesystem::create_directories(destination_images_);
    }

    static std::string pattern() {
        std::string bytes(kPatternSize, '\0');
        for (std::size_t i = 0; i < bytes.size(); ++i)
            bytes[i] = char((i * 131 + 7) % 251);
        return bytes;
    }

    // A raw file of 4 MiB with the pattern at kPatternAt.
    std::string raw_with_pattern(const std::string& path) {
        auto created = domus({"image", "create", path, "4M", "-f", "raw"});
        EXPECT_EQ(created.status, 0) << created.err;
        std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(std::streamoff(kPatternAt));
        std::string bytes = pattern();
        file.write(bytes.data(), std::streamsize(bytes.size()));
        return path;
    }

    // The guest's "count=.. verified=.. errors=.." in run dir `dir` (-1s: none yet).
    std::array<long long, 3> counter(const std::string& dir) {
        std::string status = read_at(dir, "sc", "data/counter/status");
        std::smatch m;
        static const std::regex re(R"(count=(\d+) verified=(\d+) errors=(\d+))");
        if (!std::regex_search(status, m, re)) return {-1, -1, -1};
        return {std::stoll(m[1]), std::stoll(m[2]), std::stoll(m[3])};
    }

    // The counting guest on `disk` (`format`), writing and verifying it.
    void start(const std::string& disk, const std::string& format) {
        auto created = domus(
            {"create", config("sc", "name = \"sc\"\nkernel = \"" + guest_image("save_counter") +
                                        "\"\nmemory = 32\ndisk = [ '" + disk + "," + format +
                                        ",xvda,w' ]\n")});
        ASSERT_EQ(created.status, 0) << created.err;
        ASSERT_TRUE(eventually([&] { return counter(run_dir_)[1] > 3; }, std::chrono::seconds(30)));
    }

    ProcessResult migrate_copying(const std::string& option = "--copy-disks") {
        return domus({"migrate", option, "--copy-disks", "--disk-dir", destination_images_, "-s",
                      "", "sc", second_->transport()},
                     std::chrono::seconds(120));
    }

    // The guest runs there on its copies: it goes on verifying what it wrote before.
    void goes_on_there(long long verified_before) {
        std::array<long long, 3> there{};
        ASSERT_TRUE(eventually(
            [&] {
                there = counter(second_->dir());
                return there[1] > verified_before + 5;
            },
            std::chrono::seconds(30)))
            << "verified " << there[1];
        EXPECT_EQ(there[2], 0) << "every write acknowledged before the move is in the copy";
        EXPECT_NE(domus({"domid", "sc"}).status, 0) << "the source domain is gone";
    }

    std::string source_images_, destination_images_;
};

TEST_F(MigrationCopyDisksTest, ARawDiskMovesWithTheDomain) {
    std::string disk = raw_with_pattern(source_images_ + "/disk.raw");
    start(disk, "raw");
    long long verified = counter(run_dir_)[1];
    auto moved = migrate_copying("--json");
    ASSERT_EQ(moved.status, 0) << moved.err << moved.out;
    goes_on_there(verified);
    // --json: the disks' progress, then the result (warm: the disks go suspended).
    std::uint64_t disk_bytes = 0;
    nlohmann::json last;
    std::istringstream lines(moved.out);
    for (std::string line; std::getline(lines, line);) {
        last = nlohmann::json::parse(line, nullptr, false);
        if (last.is_object() && last.value("phase", "") == "disks")
            disk_bytes = std::max(disk_bytes, last.value("disk_bytes", std::uint64_t(0)));
    }
    EXPECT_GE(disk_bytes, kPatternSize) << moved.out;
    EXPECT_EQ(last.value("event", ""), "done") << moved.out;
    EXPECT_EQ(last.value("mode", ""), "warm") << moved.out;
    std::string copy = destination_images_ + "/disk.raw";
    ASSERT_TRUE(std::filesystem::exists(copy));
    EXPECT_EQ(std::filesystem::file_size(copy), std::filesystem::file_size(disk));
    std::string contents = disk_contents(copy);
    ASSERT_GE(contents.size(), kPatternAt + kPatternSize);
    EXPECT_TRUE(contents.compare(kPatternAt, kPatternSize, pattern()) == 0)
        << "data the guest never touched came along";
}

TEST_F(MigrationCopyDisksTest, AQcow2OverlayMovesWithItsBackingFile) {
    std::string base = raw_with_pattern(source_images_ + "/base.raw");
    std::string overlay = source_images_ + "/overlay.qcow2";
    auto created = domus({"image", "create", overlay, "4M", "-f", "qcow2", "-b", base});
    ASSERT_EQ(created.status, 0) << created.err;
    start(overlay, "qcow2");
    long long verified = counter(run_dir_)[1];
    auto moved = migrate_copying();
    ASSERT_EQ(moved.status, 0) << moved.err << moved.out;
    goes_on_there(verified);
    // The copy reads through the copied backing file, not the source's.
    std::string copy = destination_images_ + "/overlay.qcow2";
    auto info = run_process({"/usr/bin/qemu-img", "info", "-U", "--output=json", copy},
                            std::chrono::seconds(30));
    ASSERT_EQ(info.status, 0) << info.err;
    auto json = nlohmann::json::parse(info.out, nullptr, false);
    ASSERT_TRUE(json.is_object()) << info.out;
    EXPECT_EQ(json.value("full-backing-filename", ""), destination_images_ + "/base.raw")
        << info.out;
    std::string contents = disk_contents(copy);
    ASSERT_GE(contents.size(), kPatternAt + kPatternSize);
    EXPECT_TRUE(contents.compare(kPatternAt, kPatternSize, pattern()) == 0)
        << "the backing file's data reads through the copied chain";
}

TEST_F(MigrationCopyDisksTest, AFileInTheWayIsNotOverwrittenAndTheSourceRunsOn) {
    std::string disk = raw_with_pattern(source_images_ + "/disk.raw");
    std::string in_the_way = destination_images_ + "/disk.raw";
    std::ofstream(in_the_way) << "precious";
    start(disk, "raw");
    auto refused = migrate_copying();
    EXPECT_NE(refused.status, 0) << refused.out;
    EXPECT_NE(refused.err.find("exists"), std::string::npos) << refused.err;
    std::ifstream kept(in_the_way);
    std::string text((std::istreambuf_iterator<char>(kept)), {});
    EXPECT_EQ(text, "precious");
    // The source goes on (resumed where it was) and writes its own disk.
    long long before = counter(run_dir_)[0];
    ASSERT_TRUE(
        eventually([&] { return counter(run_dir_)[0] > before + 5; }, std::chrono::seconds(30)));
    EXPECT_EQ(counter(run_dir_)[2], 0);
    EXPECT_NE(second_->domus({"domid", "sc"}).status, 0) << "nothing was made there";
}

}  // namespace
}  // namespace domus::test
