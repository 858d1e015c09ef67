// Qcow2Image on its own (no backing): writes at many offsets and sizes read back after
// reopening; zero clusters; refcount-table growth; L2 cache eviction; consistency.
#include "storage/qcow2_image.hpp"

#include <gtest/gtest.h>

#include "qcow2_checker.hpp"
#include "storage/image_create.hpp"
#include "test_files.hpp"

namespace domus::storage {
namespace {

using testing::check_qcow2;
using testing::pattern;
using testing::TempDir;

std::unique_ptr<Qcow2Image> open_rw(const std::string& path, std::size_t cache = 2u << 20) {
    auto image = Qcow2Image::open(path, Qcow2Options{false, cache});
    EXPECT_TRUE(image) << image.error().message;
    return image ? std::move(*image) : nullptr;
}

void expect_clean(const std::string& path) {
    auto report = check_qcow2(path);
    EXPECT_TRUE(report.errors.empty()) << report.summary();
    EXPECT_EQ(report.leaks, 0u) << report.summary();
}

class Qcow2ClusterSizes : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(Qcow2ClusterSizes, PatternsAtManyOffsetsSurviveReopen) {
    const std::uint64_t cs = GetParam();
    const std::uint64_t l2_span = cs * (cs / 8);  // guest bytes one L2 table maps
    const std::uint64_t size = std::min<std::uint64_t>(3 * l2_span + 5 * cs, 8ull << 30);
    TempDir dir;
    auto path = dir.file("disk.qcow2");
    ASSERT_TRUE(create_image(path, size, Format::qcow2, std::nullopt, cs));

    // (offset, length): inside one cluster, unaligned to clusters, spanning several,
    // straddling each L2 table boundary, and the very end of the disk.
    const std::uint64_t u = std::max<std::uint64_t>(cs, 4096);  // keeps the writes apart
    std::vector<std::pair<std::uint64_t, std::uint64_t>> writes = {
        {0, 512}, {u + 512, 1024}, {3 * u - 512, 2 * cs + 1024}, {size - 1024, 1024}};
    for (std::uint64_t b = 1; b <= 3 && b * l2_span < size; ++b)
        writes.emplace_back(b * l2_span - cs / 2 - 512, cs + 1024);
    {
        auto image = open_rw(path);
        ASSERT_TRUE(image);
        std::uint32_t seed = 1;
        for (auto [offset, length] : writes) {
            offset &= ~511ull;
            ASSERT_TRUE(image->write(offset, pattern(offset, length, seed++))) << offset;
        }
        ASSERT_TRUE(image->flush());
    }
    expect_clean(path);
    auto image = Qcow2Image::open(path, Qcow2Options{true});
    ASSERT_TRUE(image);
    std::uint32_t seed = 1;
    for (auto [offset, length] : writes) {
        offset &= ~511ull;
        std::vector<std::byte> back(length);
        ASSERT_TRUE((*image)->read(offset, back));
        EXPECT_EQ(back, pattern(offset, length, seed++)) << "offset " << offset;
    }
    // Untouched space between the writes reads as zeros.
    std::vector<std::byte> gap(std::max<std::uint64_t>(cs / 2, 512));
    std::vector<std::byte> zeros(gap.size());
    ASSERT_TRUE((*image)->read(6 * u, gap));
    EXPECT_EQ(gap, zeros);
}

INSTANTIATE_TEST_SUITE_P(ClusterSizes, Qcow2ClusterSizes,
                         ::testing::Values(512, 4096, 65536, 2u << 20));

TEST(Qcow2Image, DiscardMakesZeroClustersAndFreesSpace) {
    TempDir dir;
    auto path = dir.file("disk.qcow2");
    ASSERT_TRUE(create_image(path, 16 << 20, Format::qcow2));
    auto image = open_rw(path);
    ASSERT_TRUE(image);
    auto data = pattern(0, 4 << 20, 5);
    ASSERT_TRUE(image->write(0, data));
    ASSERT_TRUE(image->flush());
    ASSERT_TRUE(image->discard(65536, 3 * 65536));        // three whole clusters
    ASSERT_TRUE(image->discard(65536 * 10 + 512, 1024));  // part of one
    std::vector<std::byte> back(4 << 20);
    ASSERT_TRUE(image->read(0, back));
    for (std::size_t i = 0; i < back.size(); ++i) {
        bool zeroed = (i >= 65536 && i < 4 * 65536) || (i >= 655360 + 512 && i < 655360 + 1536);
        ASSERT_EQ(back[i], zeroed ? std::byte{0} : data[i]) << i;
    }
    ASSERT_TRUE(image->flush());
    image.reset();
    auto report = check_qcow2(path);
    EXPECT_TRUE(report.errors.empty()) << report.summary();
    EXPECT_EQ(report.leaks, 0u);
    EXPECT_EQ(report.data_clusters, 64u - 3u);

    // The freed clusters are reused: rewriting them does not grow the file.
    auto again = open_rw(path);
    auto size_before = testing::read_file(path).size();
    ASSERT_TRUE(again->write(65536, pattern(65536, 3 * 65536, 6)));
    ASSERT_TRUE(again->flush());
    again.reset();
    EXPECT_EQ(testing::read_file(path).size(), size_before);
    expect_clean(path);
}

TEST(Qcow2Image, RefcountTableGrowsWithSmallClusters) {
    // 512-byte clusters: the initial one-cluster refcount table covers 8 MiB of file.
    TempDir dir;
    auto path = dir.file("disk.qcow2");
    ASSERT_TRUE(create_image(path, 64 << 20, Format::qcow2, std::nullopt, 512));
    {
        auto image = open_rw(path);
        for (std::uint64_t off = 0; off < (20u << 20); off += 256 << 10)
            ASSERT_TRUE(image->write(off, pattern(off, 256 << 10, 7)));
        ASSERT_TRUE(image->flush());
    }
    expect_clean(path);
    auto image = Qcow2Image::open(path, Qcow2Options{true});
    ASSERT_TRUE(image);
    EXPECT_GT((*image)->header().refcount_table_offset, 512u);
    std::vector<std::byte> back(256 << 10);
    for (std::uint64_t off = 0; off < (20u << 20); off += 256 << 10) {
        ASSERT_TRUE((*image)->read(off, back));
        ASSERT_EQ(back, pattern(off, back.size(), 7)) << off;
    }
}

TEST(Qcow2Image, TinyL2CacheEvictsInOrder) {
    TempDir dir;
    auto path = dir.file("disk.qcow2");
    ASSERT_TRUE(create_image(path, 16 << 20, Format::qcow2, std::nullopt, 4096));
    {
        auto image = open_rw(path, 1);  // two L2 tables (2 MiB of guest each)
        for (int pass = 0; pass < 2; ++pass)
            for (std::uint64_t off = 0; off < (16u << 20); off += (1 << 20) + 4096)
                ASSERT_TRUE(image->write(off, pattern(off, 8192, 8 + pass)));
        // No flush: the destructor writes what is still cached.
    }
    expect_clean(path);
    auto image = Qcow2Image::open(path, Qcow2Options{true});
    std::vector<std::byte> back(8192);
    for (std::uint64_t off = 0; off < (16u << 20); off += (1 << 20) + 4096) {
        ASSERT_TRUE((*image)->read(off, back));
        ASSERT_EQ(back, pattern(off, 8192, 9)) << off;
    }
}

TEST(Qcow2Image, ReadOnlyRejectsWrites) {
    TempDir dir;
    auto path = dir.file("disk.qcow2");
    ASSERT_TRUE(create_image(path, 1 << 20, Format::qcow2));
    auto image = open_image(path, Format::qcow2, true);
    ASSERT_TRUE(image);
    EXPECT_TRUE((*image)->read_only());
    std::vector<std::byte> data(512);
    EXPECT_FALSE((*image)->write(0, data));
    EXPECT_FALSE((*image)->discard(0, 512));
    EXPECT_TRUE((*image)->flush());
}

TEST(Qcow2Image, RejectsUnalignedRequests) {
    TempDir dir;
    auto path = dir.file("disk.qcow2");
    ASSERT_TRUE(create_image(path, 1 << 20, Format::qcow2));
    auto image = open_rw(path);
    std::vector<std::byte> data(1000);
    EXPECT_FALSE(image->write(0, data));
    EXPECT_FALSE(image->read(1, std::span<std::byte>(data).first(512)));
    EXPECT_FALSE(image->read(1 << 20, std::span<std::byte>(data).first(512)));
}

}  // namespace
}  // namespace domus::storage
