// --copy-disks' two ends over a file: a raw disk and a qcow2 overlay with its backing file
// come out equal in another directory, the overlay naming its backing file's copy; a file
// in the way refuses the stream and leaves nothing behind; DISKSPECs follow the moves.
#include "toolstack/disk_copy.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "base/fd.hpp"
#include "storage/image_create.hpp"
#include "storage/image_info.hpp"

namespace domus::toolstack {
namespace {

class DiskCopyTest : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = ::testing::TempDir() + "disk-copy-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name();
        std::filesystem::remove_all(root_);
        std::filesystem::create_directories(root_ + "/src");
        std::filesystem::create_directories(root_ + "/dst");
        stream_ = root_ + "/stream";
    }
    void TearDown() override { std::filesystem::remove_all(root_); }

    // A 4 MiB raw file with `text` at 1 MiB and the rest a hole.
    std::string raw(const std::string& name, const std::string& text) {
        std::string path = root_ + "/src/" + name;
        EXPECT_TRUE(storage::create_image(path, 4 << 20, storage::Format::raw));
        std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(1 << 20);
        file << text;
        return path;
    }

    static std::string contents(const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        return std::string((std::istreambuf_iterator<char>(in)), {});
    }

    Result<std::uint64_t> send(const std::vector<std::string>& disks) {
        DOMUS_TRY(files, disk_chain_files(disks));
        Fd out(::open(stream_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        return send_disks(out.get(), files);
    }

    Result<DiskMoves> receive(const std::string& dir) {
        Fd in(::open(stream_.c_str(), O_RDONLY | O_CLOEXEC));
        return receive_disks(in.get(), dir);
    }

    std::string root_, stream_;
};

TEST_F(DiskCopyTest, ARawDiskAndAQcow2OverlayWithItsBackingFileArriveWhole) {
    std::string disk = raw("disk.raw", "raw disk data");
    std::string base = raw("base.raw", "backing data");
    std::string overlay = root_ + "/src/overlay.qcow2";
    ASSERT_TRUE(storage::create_image(overlay, std::nullopt, storage::Format::qcow2, base,
                                      storage::kDefaultClusterSize, storage::Format::raw));
    auto sent = send({disk + ",raw,xvda,w", "format=qcow2,vdev=xvdb,target=" + overlay});
    ASSERT_TRUE(sent) << sent.error().message;
    EXPECT_LT(*sent, std::uint64_t(1 << 20)) << "holes are not sent";

    auto moves = receive(root_ + "/dst");
    ASSERT_TRUE(moves) << moves.error().message;
    ASSERT_EQ(moves->size(), 3u);
    EXPECT_EQ(moves->at(disk), root_ + "/dst/disk.raw");
    EXPECT_EQ(moves->at(overlay), root_ + "/dst/overlay.qcow2");
    EXPECT_EQ(contents(root_ + "/dst/disk.raw"), contents(disk));
    EXPECT_EQ(contents(root_ + "/dst/base.raw"), contents(base));
    auto info = storage::image_info(root_ + "/dst/overlay.qcow2");
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->backing_file, "base.raw") << "the copy reads through the copied base";
    EXPECT_EQ(info->backing_format, "raw");
    EXPECT_EQ(info->virtual_size, std::uint64_t(4 << 20));
}

TEST_F(DiskCopyTest, AFileInTheWayRefusesTheStreamAndNothingIsLeft) {
    std::string first = raw("first.raw", "one");
    std::string second = raw("second.raw", "two");
    ASSERT_TRUE(send({first + ",raw,xvda,w", second + ",raw,xvdb,w"}));
    std::ofstream(root_ + "/dst/second.raw") << "precious";
    auto moves = receive(root_ + "/dst");
    ASSERT_FALSE(moves);
    EXPECT_NE(moves.error().message.find("exists"), std::string::npos) << moves.error().message;
    EXPECT_EQ(contents(root_ + "/dst/second.raw"), "precious");
    EXPECT_FALSE(std::filesystem::exists(root_ + "/dst/first.raw")) << "made, then removed";
}

TEST_F(DiskCopyTest, ACutOrDamagedStreamIsRefusedAndLeavesNothing) {
    std::string disk = raw("disk.raw", "some data");
    ASSERT_TRUE(send({disk + ",raw,xvda,w"}));
    std::string whole = contents(stream_);
    for (std::size_t cut : {std::size_t(0), std::size_t(10), std::size_t(30), std::size_t(60),
                            whole.size() / 2, whole.size() - 20, whole.size() - 1}) {
        std::ofstream(stream_, std::ios::binary | std::ios::trunc) << whole.substr(0, cut);
        EXPECT_FALSE(receive(root_ + "/dst")) << "cut at " << cut;
        EXPECT_TRUE(std::filesystem::is_empty(root_ + "/dst")) << "cut at " << cut;
    }
    for (std::size_t at = 0; at < whole.size(); at += 7) {
        std::string damaged = whole;
        damaged[at] = char(damaged[at] ^ 0x10);
        std::ofstream(stream_, std::ios::binary | std::ios::trunc) << damaged;
        EXPECT_FALSE(receive(root_ + "/dst")) << "flip at " << at;  // checksums, padding
        EXPECT_TRUE(std::filesystem::is_empty(root_ + "/dst")) << "flip at " << at;
    }
}

TEST_F(DiskCopyTest, ADomainStreamIsNotADiskStream) {
    {
        Fd out(::open(stream_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        migration::FdSink sink(out.get());
        migration::StreamWriter writer(sink);
        ASSERT_TRUE(writer.header(0));  // a domain's: no kFlagDisks
        ASSERT_TRUE(writer.end());
    }
    auto moves = receive(root_ + "/dst");
    ASSERT_FALSE(moves);
    EXPECT_NE(moves.error().message.find("--copy-disks"), std::string::npos)
        << moves.error().message;
}

TEST_F(DiskCopyTest, DiskSpecsFollowTheirMoves) {
    DiskMoves moves{{"/a/disk.raw", "/b/disk.raw"}};
    auto moved = moved_disk_specs({"/a/disk.raw,raw,xvda,w", "/a/other.raw,raw,xvdb,r"}, moves);
    ASSERT_TRUE(moved) << moved.error().message;
    ASSERT_EQ(moved->size(), 2u);
    EXPECT_NE((*moved)[0].find("target=/b/disk.raw"), std::string::npos) << (*moved)[0];
    EXPECT_EQ((*moved)[1], "/a/other.raw,raw,xvdb,r");
}

}  // namespace
}  // namespace domus::toolstack
