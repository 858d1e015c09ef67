// BlockImage::host_extents(): where a range of the disk lies in host files, as the block
// backend's asynchronous engine moves it (raw: the file; qcow2: allocated clusters, zero
// clusters and the backing chain), and when the image must do a transfer itself.
#include <gtest/gtest.h>
#include <unistd.h>

#include "storage/block_image.hpp"
#include "storage/image_create.hpp"
#include "storage/qcow2_image.hpp"
#include "test_files.hpp"

namespace domus::storage {
namespace {

using testing::pattern;
using testing::TempDir;

constexpr std::uint64_t kCluster = 64 * 1024;
constexpr std::uint64_t kDisk = 4 << 20;

// What the extents hold, read with plain pread (zeros where fd is -1).
std::vector<std::byte> read_extents(const std::vector<HostExtent>& extents) {
    std::vector<std::byte> out;
    for (const auto& extent : extents) {
        std::size_t at = out.size();
        out.resize(at + extent.length);
        if (extent.fd < 0) continue;
        EXPECT_EQ(::pread(extent.fd, out.data() + at, extent.length, off_t(extent.offset)),
                  ssize_t(extent.length));
    }
    return out;
}

std::unique_ptr<BlockImage> open_rw(const std::string& path, Format format) {
    auto image = open_image(path, format, false);
    EXPECT_TRUE(image) << image.error().message;
    return image ? std::move(*image) : nullptr;
}

TEST(HostExtents, RawIsTheFileItself) {
    TempDir dir;
    auto path = dir.file("disk.raw");
    ASSERT_TRUE(create_image(path, kDisk, Format::raw));
    auto image = open_rw(path, Format::raw);
    ASSERT_TRUE(image->write(8192, pattern(8192, 8192, 1)));
    std::vector<HostExtent> extents;
    auto mapped = image->host_extents(8192, 8192, true, extents);
    ASSERT_TRUE(mapped) << mapped.error().message;
    ASSERT_TRUE(*mapped);
    ASSERT_EQ(extents.size(), 1u);
    EXPECT_EQ(extents[0].offset, 8192u);
    EXPECT_EQ(read_extents(extents), pattern(8192, 8192, 1));
}

TEST(HostExtents, Qcow2ClustersBackToBackAreOneExtentAndWritableInPlace) {
    TempDir dir;
    auto path = dir.file("disk.qcow2");
    ASSERT_TRUE(create_image(path, kDisk, Format::qcow2, std::nullopt, kCluster));
    auto image = open_rw(path, Format::qcow2);
    // The first write also allocates the L2 table (after its data cluster); the next four
    // clusters then follow each other in the file.
    ASSERT_TRUE(image->write(0, pattern(0, 5 * kCluster, 2)));
    for (bool write : {false, true}) {
        std::vector<HostExtent> extents;
        auto mapped = image->host_extents(kCluster + 512, 4 * kCluster - 1024, write, extents);
        ASSERT_TRUE(mapped && *mapped);
        ASSERT_EQ(extents.size(), 1u);
        EXPECT_GE(extents[0].fd, 0);
        std::vector<std::byte> want = pattern(kCluster, 4 * kCluster, 2);
        want = {want.begin() + 512, want.end() - 512};
        EXPECT_EQ(read_extents(extents), want);
    }
}

TEST(HostExtents, Qcow2UnallocatedAndZeroClustersReadAsZerosButWritesNeedTheImage) {
    TempDir dir;
    auto path = dir.file("disk.qcow2");
    ASSERT_TRUE(create_image(path, kDisk, Format::qcow2, std::nullopt, kCluster));
    auto image = open_rw(path, Format::qcow2);
    ASSERT_TRUE(image->write(kCluster, pattern(kCluster, kCluster, 3)));
    ASSERT_TRUE(image->discard(kCluster, kCluster));  // now a zero cluster
    std::vector<HostExtent> extents;
    auto mapped = image->host_extents(0, 3 * kCluster, false, extents);
    ASSERT_TRUE(mapped && *mapped);
    ASSERT_EQ(extents.size(), 1u);  // unallocated, zero, unallocated: all zeros, one extent
    EXPECT_EQ(extents[0].fd, -1);
    EXPECT_EQ(extents[0].length, 3 * kCluster);
    extents.clear();
    mapped = image->host_extents(kCluster, 4096, true, extents);
    ASSERT_TRUE(mapped);
    EXPECT_FALSE(*mapped);  // a zero cluster must be allocated first
}

TEST(HostExtents, Qcow2OverlayReadsFromTheBackingFilesExtents) {
    TempDir dir;
    auto base = dir.file("base.qcow2");
    auto top = dir.file("top.qcow2");
    ASSERT_TRUE(create_image(base, kDisk / 2, Format::qcow2, std::nullopt, kCluster));
    {
        auto image = open_rw(base, Format::qcow2);
        ASSERT_TRUE(image->write(0, pattern(0, kDisk / 2, 4)));
    }
    // The overlay is larger than its backing file: the rest reads as zeros.
    ASSERT_TRUE(create_image(top, kDisk, Format::qcow2, base, kCluster, Format::qcow2));
    auto image = open_rw(top, Format::qcow2);
    ASSERT_TRUE(image->write(kCluster, pattern(kCluster, kCluster, 5)));

    std::vector<HostExtent> extents;
    auto mapped = image->host_extents(0, kDisk, false, extents);
    ASSERT_TRUE(mapped && *mapped);
    std::vector<std::byte> want(kDisk);
    ASSERT_TRUE(image->read(0, want));
    EXPECT_EQ(read_extents(extents), want);
    ASSERT_GE(extents.size(), 4u);  // base, top, base, zeros
    EXPECT_NE(extents[0].fd, extents[1].fd);
    EXPECT_EQ(extents.back().fd, -1);

    // Writes go straight only into the overlay's own clusters.
    extents.clear();
    mapped = image->host_extents(kCluster, kCluster, true, extents);
    ASSERT_TRUE(mapped && *mapped);
    extents.clear();
    mapped = image->host_extents(0, 2 * kCluster, true, extents);
    ASSERT_TRUE(mapped);
    EXPECT_FALSE(*mapped);
}

TEST(HostExtents, ReadOnlyImagesRefuseWritesAndCheckTheRange) {
    TempDir dir;
    auto path = dir.file("disk.qcow2");
    ASSERT_TRUE(create_image(path, kDisk, Format::qcow2, std::nullopt, kCluster));
    auto image = open_image(path, Format::qcow2, true);
    ASSERT_TRUE(image);
    std::vector<HostExtent> extents;
    auto mapped = (*image)->host_extents(0, 4096, true, extents);
    ASSERT_TRUE(mapped);
    EXPECT_FALSE(*mapped);
    EXPECT_FALSE((*image)->host_extents(kDisk - 512, 1024, false, extents));
    EXPECT_FALSE((*image)->host_extents(100, 512, false, extents));
}

}  // namespace
}  // namespace domus::storage
