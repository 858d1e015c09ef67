// RawImage: read/write/flush/discard on a sparse file, request checks, read-only mode.
#include "storage/raw_image.hpp"

#include <gtest/gtest.h>

#include "storage/image_create.hpp"
#include "test_files.hpp"

namespace domus::storage {
namespace {

using testing::pattern;
using testing::TempDir;

// A fresh 1 MiB sparse raw image in `dir`, opened read-write (null, and a failed
// expectation, if that does not work).
std::unique_ptr<RawImage> fresh_image(const TempDir& dir) {
    auto path = dir.file("disk.raw");
    EXPECT_TRUE(create_image(path, 1 << 20, Format::raw));
    auto image = RawImage::open(path, {});
    EXPECT_TRUE(image);
    return image ? std::move(image).value() : nullptr;
}

TEST(RawImage, WriteReadFlushReopen) {
    TempDir dir;
    auto path = dir.file("disk.raw");
    ASSERT_TRUE(create_image(path, 4 << 20, Format::raw));
    {
        auto image = open_image(path, Format::autodetect, false);
        ASSERT_TRUE(image) << image.error().message;
        EXPECT_EQ((*image)->size_bytes(), 4u << 20);
        auto data = pattern(512 * 7, 8192 + 512, 1);
        ASSERT_TRUE((*image)->write(512 * 7, data));
        ASSERT_TRUE((*image)->flush());
    }
    auto image = open_image(path, Format::raw, true);
    ASSERT_TRUE(image);
    std::vector<std::byte> back(8192 + 512);
    ASSERT_TRUE((*image)->read(512 * 7, back));
    EXPECT_EQ(back, pattern(512 * 7, back.size(), 1));
    EXPECT_FALSE((*image)->write(0, back));  // read-only
}

TEST(RawImage, DiscardReadsZeros) {
    TempDir dir;
    auto image = fresh_image(dir);
    ASSERT_TRUE(image);
    auto data = pattern(0, 1 << 20, 2);
    ASSERT_TRUE(image->write(0, data));
    ASSERT_TRUE(image->discard(4096, 512 * 3));  // partial block: zeros too
    ASSERT_TRUE(image->discard(65536, 65536));
    std::vector<std::byte> back(1 << 20);
    ASSERT_TRUE(image->read(0, back));
    for (std::size_t i = 0; i < back.size(); ++i) {
        bool zeroed = (i >= 4096 && i < 4096 + 1536) || (i >= 65536 && i < 131072);
        ASSERT_EQ(back[i], zeroed ? std::byte{0} : data[i]) << i;
    }
}

TEST(RawImage, RejectsUnalignedAndOutOfRange) {
    TempDir dir;
    auto image = fresh_image(dir);
    ASSERT_TRUE(image);
    std::vector<std::byte> buffer(1024);
    EXPECT_FALSE(image->read(100, buffer));
    EXPECT_FALSE(image->write(0, std::span<const std::byte>(buffer).first(100)));
    EXPECT_FALSE(image->read((1 << 20) - 512, buffer));
    EXPECT_FALSE(image->discard(~0ull & ~511ull, 1024));  // would overflow
    EXPECT_TRUE(image->read((1 << 20) - 1024, buffer));
}

TEST(RawImage, DirectIoThroughOpenImage) {
    TempDir dir;
    auto path = dir.file("disk.raw");
    ASSERT_TRUE(create_image(path, 1 << 20, Format::raw));
    auto image = open_image(path, Format::autodetect, false, true);
    if (!image) GTEST_SKIP() << image.error().message;
    EXPECT_TRUE((*image)->direct_uncached());
    EXPECT_EQ((*image)->direct_alignment(), RawImage::kDirectAlignment);
    EXPECT_GE((*image)->direct_fd(), 0);
    (*image).reset();  // one writer of a file per process
    auto cached = open_image(path, Format::raw, false);
    ASSERT_TRUE(cached);
    EXPECT_FALSE((*cached)->direct_uncached());
    EXPECT_EQ((*cached)->direct_alignment(), kSectorSize);
    auto qcow2 = dir.file("disk.qcow2");
    ASSERT_TRUE(create_image(qcow2, 1 << 20, Format::qcow2));
    auto refused = open_image(qcow2, Format::autodetect, false, true);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("raw images only"), std::string::npos);
}

TEST(RawImage, DirectIoWhenSupported) {
    TempDir dir;
    auto path = dir.file("disk.raw");
    ASSERT_TRUE(create_image(path, 1 << 20, Format::raw));
    auto image = RawImage::open(path, RawOptions{false, true});
    if (!image) GTEST_SKIP() << image.error().message;
    auto data = pattern(512, 1536, 3);  // unaligned to 4 KiB: goes through the bounce buffer
    ASSERT_TRUE((*image)->write(512, data));
    std::vector<std::byte> back(1536);
    ASSERT_TRUE((*image)->read(512, back));
    EXPECT_EQ(back, data);
    ASSERT_TRUE((*image)->flush());
}

TEST(RawImage, MissingFileIsAnError) {
    auto image = open_image("/nonexistent/disk.raw", Format::raw, false);
    ASSERT_FALSE(image);
    EXPECT_NE(image.error().message.find("No such file"), std::string::npos);
}

}  // namespace
}  // namespace domus::storage
