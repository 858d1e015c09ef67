// Damaged and hostile qcow2 images: each corruption is refused with a clear error (or,
// where the data is still readable, opens read-only), and a randomized mutation test
// that opens, reads and writes mutated images must never crash or hang.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <random>

#include "storage/image_create.hpp"
#include "storage/qcow2_format.hpp"
#include "storage/qcow2_image.hpp"
#include "test_files.hpp"

namespace domus::storage {
namespace {

using testing::TempDir;

void patch(const std::string& path, std::uint64_t offset, std::span<const std::byte> bytes) {
    int fd = ::open(path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)),
              static_cast<ssize_t>(bytes.size()));
    ::close(fd);
}
void patch32(const std::string& path, std::uint64_t offset, std::uint32_t value) {
    std::byte b[4];
    store_be32(b, value);
    patch(path, offset, b);
}
void patch64(const std::string& path, std::uint64_t offset, std::uint64_t value) {
    std::byte b[8];
    store_be64(b, value);
    patch(path, offset, b);
}
std::uint64_t peek64(const std::string& path, std::uint64_t offset) {
    auto bytes = testing::read_file(path);
    return load_be64(bytes.data() + offset);
}

// 1 MiB, 64 KiB clusters: header, refcount table @64K, block @128K, L1 @192K; cluster 0
// of the disk written, so there is one L2 table and one data cluster.
struct Damaged : ::testing::Test {
    TempDir dir;
    std::string path = dir.file("disk.qcow2");
    void SetUp() override {
        ASSERT_TRUE(create_image(path, 1 << 20, Format::qcow2));
        auto image = open_image(path, Format::qcow2, false);
        ASSERT_TRUE((*image)->write(0, testing::pattern(0, 4096, 1)));
    }
    std::uint64_t l2_offset() { return peek64(path, 0x30000) & kOffsetMask; }
    std::string open_error(bool read_only) {
        auto image = open_image(path, Format::qcow2, read_only);
        return image ? std::string() : image.error().message;
    }
    std::string read_error() {
        auto image = open_image(path, Format::qcow2, true);
        if (!image) return "open: " + image.error().message;
        std::vector<std::byte> buffer(4096);
        auto done = (*image)->read(0, buffer);
        return done ? std::string() : done.error().message;
    }
};

#define EXPECT_CONTAINS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

TEST_F(Damaged, BadMagic) {
    patch32(path, 0, 0x12345678);
    EXPECT_CONTAINS(open_error(false), "bad magic");
}

TEST_F(Damaged, L1TableOutsideFile) {
    patch64(path, 40, 0x40000000);
    EXPECT_CONTAINS(open_error(true), "L1 table");
}

TEST_F(Damaged, L1TableUnaligned) {
    patch64(path, 40, 0x30008);
    EXPECT_CONTAINS(open_error(true), "not cluster-aligned");
}

TEST_F(Damaged, RefcountTableOverlapsHeader) {
    patch64(path, 48, 0);
    EXPECT_CONTAINS(open_error(true), "overlaps the header");
}

TEST_F(Damaged, RefcountTableOutsideFile) {
    patch32(path, 56, 100);  // 100 clusters from 64K: past the end
    EXPECT_CONTAINS(open_error(true), "refcount table");
}

TEST_F(Damaged, RefcountBlockUnaligned) {
    patch64(path, 0x10000, 0x20100);
    EXPECT_CONTAINS(open_error(false), "refcount block");
    EXPECT_EQ(open_error(true), "");  // readers do not need refcounts
}

TEST_F(Damaged, L1EntryOutsideFile) {
    patch64(path, 0x30000, kOflagCopied | 0x7000000);
    EXPECT_CONTAINS(open_error(true), "L1 entry");
}

TEST_F(Damaged, L2EntryUnaligned) {
    std::uint64_t l2 = l2_offset();
    patch64(path, l2, kOflagCopied | ((peek64(path, l2) & kOffsetMask) + 512));
    EXPECT_CONTAINS(read_error(), "unaligned");
}

TEST_F(Damaged, L2EntryBeyondFile) {
    patch64(path, l2_offset(), kOflagCopied | 0x10000000);
    EXPECT_CONTAINS(read_error(), "outside the file");
}

TEST_F(Damaged, CompressedCluster) {
    patch64(path, l2_offset(), kOflagCompressed | 0x40000);
    EXPECT_CONTAINS(read_error(), "compressed clusters not supported");
}

TEST_F(Damaged, Encrypted) {
    patch32(path, 32, 1);
    EXPECT_CONTAINS(open_error(true), "encrypted");
}

TEST_F(Damaged, UnknownIncompatibleFeatures) {
    patch64(path, 72, kIncompatDataFile);
    EXPECT_CONTAINS(open_error(true), "external data file");
    patch64(path, 72, 1ull << 40);
    EXPECT_CONTAINS(open_error(true), "unknown bits");
}

TEST_F(Damaged, CorruptBitOpensReadOnlyOnly) {
    patch64(path, 72, kIncompatCorrupt);
    EXPECT_CONTAINS(open_error(false), "marked corrupt");
    EXPECT_EQ(read_error(), "");
}

TEST_F(Damaged, DirtyBitOpensReadOnlyOnly) {
    patch64(path, 72, kIncompatDirty);
    EXPECT_CONTAINS(open_error(false), "dirty");
    EXPECT_EQ(read_error(), "");
}

TEST_F(Damaged, ClusterSizeOutOfRange) {
    patch32(path, 20, 22);
    EXPECT_CONTAINS(open_error(true), "cluster size");
    patch32(path, 20, 0xffffffff);
    EXPECT_CONTAINS(open_error(true), "cluster size");
}

TEST_F(Damaged, L1TooSmallForSize) {
    patch64(path, 24, 1ull << 40);
    EXPECT_CONTAINS(open_error(true), "too small");
}

TEST_F(Damaged, BackingNameTooLong) {
    patch64(path, 8, 200);
    patch32(path, 16, 5000);
    EXPECT_CONTAINS(open_error(true), "backing file name");
}

TEST_F(Damaged, TruncatedFile) {
    ASSERT_EQ(::truncate(path.c_str(), 50), 0);
    EXPECT_CONTAINS(open_error(true), "too small");
}

TEST(BackingChain, LoopIsRefused) {
    TempDir dir;
    ASSERT_TRUE(create_image(dir.file("b.qcow2"), 1 << 20, Format::qcow2));
    ASSERT_TRUE(
        create_image(dir.file("a.qcow2"), std::nullopt, Format::qcow2, std::string("b.qcow2")));
    ASSERT_TRUE(create_image(dir.file("b.qcow2"), 1 << 20, Format::qcow2, std::string("a.qcow2")));
    auto image = open_image(dir.file("a.qcow2"), Format::qcow2, true);
    ASSERT_FALSE(image);
    EXPECT_CONTAINS(image.error().message, "loop");
    auto self = dir.file("self.qcow2");
    ASSERT_TRUE(create_image(self, 1 << 20, Format::qcow2));
    ASSERT_TRUE(
        create_image(dir.file("tmp.qcow2"), 1 << 20, Format::qcow2, std::string("self.qcow2")));
    ASSERT_EQ(::rename(dir.file("tmp.qcow2").c_str(), self.c_str()), 0);
    auto looped = open_image(self, Format::autodetect, false);
    ASSERT_FALSE(looped);
    EXPECT_CONTAINS(looped.error().message, "loop");
}

TEST(BackingChain, DeeperThanSixteenIsRefused) {
    TempDir dir;
    ASSERT_TRUE(create_image(dir.file("0.qcow2"), 1 << 20, Format::qcow2));
    for (int i = 1; i <= 17; ++i)
        ASSERT_TRUE(create_image(dir.file(std::to_string(i) + ".qcow2"), std::nullopt,
                                 Format::qcow2, std::to_string(i - 1) + ".qcow2"))
            << i;
    EXPECT_TRUE(open_image(dir.file("16.qcow2"), Format::qcow2, true));  // 16 backing levels
    auto deep = open_image(dir.file("17.qcow2"), Format::qcow2, true);
    ASSERT_FALSE(deep);
    EXPECT_CONTAINS(deep.error().message, "deeper than 16");
}

// Mutates bytes of the header, refcount table, L1 and L2 tables of a small image with
// 4 KiB clusters and some data, then opens it both ways and exercises it.
TEST(Robustness, RandomMutationsNeverCrash) {
    TempDir dir;
    auto pristine = dir.file("pristine.qcow2");
    ASSERT_TRUE(create_image(pristine, 4 << 20, Format::qcow2, std::nullopt, 4096));
    {
        auto image = open_image(pristine, Format::qcow2, false);
        for (std::uint64_t off = 0; off < (4u << 20); off += 300 * 1024)
            ASSERT_TRUE((*image)->write(off, testing::pattern(off, 8192, 1)));
    }
    const auto original = testing::read_file(pristine);
    auto header = parse_header(original, original.size());
    ASSERT_TRUE(header);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> regions = {
        {0, 112},
        {header->refcount_table_offset, 64},
        {header->l1_table_offset, std::uint64_t(header->l1_size) * 8},
    };
    std::uint64_t l2 = load_be64(original.data() + header->l1_table_offset) & kOffsetMask;
    regions.emplace_back(l2, 4096);

    std::mt19937_64 rng(42);
    int opened = 0;
    auto path = dir.file("mutant.qcow2");
    std::vector<std::byte> buffer(64 << 10);
    for (int round = 0; round < 400; ++round) {
        auto bytes = original;
        int mutations = 1 + static_cast<int>(rng() % 4);
        for (int m = 0; m < mutations; ++m) {
            auto [start, length] = regions[rng() % regions.size()];
            std::uint64_t at = start + rng() % length;
            if (rng() % 2)
                bytes[at] ^= std::byte(1u << (rng() % 8));
            else
                bytes[at] = std::byte(rng() & 0xff);
        }
        testing::write_file(path, bytes);
        for (bool read_only : {true, false}) {
            auto image = open_image(path, Format::qcow2, read_only);
            if (!image) continue;
            ++opened;
            std::uint64_t size = std::min<std::uint64_t>((*image)->size_bytes() & ~511ull, 4 << 20);
            for (std::uint64_t off = 0; off + buffer.size() <= size; off += buffer.size())
                (void)(*image)->read(off, buffer);
            if (!read_only && size >= 8192) {
                (void)(*image)->write(rng() % (size / 512 - 8) * 512,
                                      std::span(buffer).first(4096));
                (void)(*image)->discard(0, 4096);
                (void)(*image)->flush();
            }
        }
    }
    EXPECT_GT(opened, 100);  // most single-byte damage still opens
}

}  // namespace
}  // namespace domus::storage
