// Backing chains: reads fall through three levels, writes copy-on-write into the top,
// lower images never change; raw backing; relative paths; zero clusters hide backing.
#include <gtest/gtest.h>

#include "qcow2_checker.hpp"
#include "storage/image_create.hpp"
#include "storage/qcow2_image.hpp"
#include "test_files.hpp"

namespace domus::storage {
namespace {

using testing::pattern;
using testing::read_file;
using testing::TempDir;

constexpr std::uint64_t kSize = 4 << 20;
constexpr std::uint64_t kCluster = 65536;

void write_at(const std::string& path, std::uint64_t offset, std::uint64_t length,
              std::uint32_t seed) {
    auto image = open_image(path, Format::autodetect, false);
    ASSERT_TRUE(image) << image.error().message;
    ASSERT_TRUE((*image)->write(offset, pattern(offset, length, seed)));
    ASSERT_TRUE((*image)->flush());
}

// base: clusters 0-3 seed 1; mid: clusters 2-5 seed 2; top: empty.
struct Chain {
    TempDir dir;
    std::string base = dir.file("base.qcow2"), mid = dir.file("mid.qcow2"),
                top = dir.file("top.qcow2");
    Chain() {
        EXPECT_TRUE(create_image(base, kSize, Format::qcow2));
        write_at(base, 0, 4 * kCluster, 1);
        EXPECT_TRUE(create_image(mid, std::nullopt, Format::qcow2, std::string("base.qcow2")));
        write_at(mid, 2 * kCluster, 4 * kCluster, 2);
        EXPECT_TRUE(create_image(top, std::nullopt, Format::qcow2, std::string("mid.qcow2")));
    }
};

std::vector<std::byte> expected_chain(std::uint64_t offset, std::uint64_t length) {
    std::vector<std::byte> out(length);
    for (std::uint64_t i = 0; i < length; ++i) {
        std::uint64_t at = offset + i;
        std::uint32_t seed = at < 2 * kCluster ? 1 : at < 6 * kCluster ? 2 : 0;
        if (seed) testing::fill_pattern(std::span(out).subspan(i, 1), at, seed);
    }
    return out;
}

TEST(Qcow2Backing, ReadsFallThroughThreeLevels) {
    Chain chain;
    auto top = open_image(chain.top, Format::autodetect, true);
    ASSERT_TRUE(top) << top.error().message;
    EXPECT_EQ((*top)->size_bytes(), kSize);
    std::vector<std::byte> back(8 * kCluster);
    ASSERT_TRUE((*top)->read(0, back));
    EXPECT_EQ(back, expected_chain(0, back.size()));
}

TEST(Qcow2Backing, WritesCopyOnWriteIntoTopOnly) {
    Chain chain;
    auto base_before = read_file(chain.base);
    auto mid_before = read_file(chain.mid);
    auto expected = expected_chain(0, 8 * kCluster);
    {
        auto top = open_image(chain.top, Format::qcow2, false);
        ASSERT_TRUE(top);
        // Partial writes inside clusters backed by base and by mid, and one spanning both.
        for (std::uint64_t off : {std::uint64_t{512}, 3 * kCluster + 4096, 2 * kCluster - 1024}) {
            auto data = pattern(off, 2048, 9);
            ASSERT_TRUE((*top)->write(off, data));
            std::copy(data.begin(), data.end(), expected.begin() + static_cast<long>(off));
        }
    }
    EXPECT_EQ(read_file(chain.base), base_before);
    EXPECT_EQ(read_file(chain.mid), mid_before);
    auto report = testing::check_qcow2(chain.top);
    EXPECT_TRUE(report.errors.empty()) << report.summary();
    EXPECT_EQ(report.data_clusters, 4u);  // clusters 0-3: the third write spans 1 and 2
    auto top = open_image(chain.top, Format::qcow2, true);
    std::vector<std::byte> back(8 * kCluster);
    ASSERT_TRUE((*top)->read(0, back));
    EXPECT_EQ(back, expected);
}

TEST(Qcow2Backing, DiscardHidesBackingWithZeroClusters) {
    Chain chain;
    {
        auto top = open_image(chain.top, Format::qcow2, false);
        ASSERT_TRUE((*top)->discard(kCluster, 2 * kCluster));
    }
    auto top = open_image(chain.top, Format::qcow2, true);
    auto expected = expected_chain(0, 4 * kCluster);
    std::fill(expected.begin() + kCluster, expected.begin() + 3 * kCluster, std::byte{0});
    std::vector<std::byte> back(4 * kCluster);
    ASSERT_TRUE((*top)->read(0, back));
    EXPECT_EQ(back, expected);
}

TEST(Qcow2Backing, RawBackingAndSmallerBacking) {
    TempDir dir;
    auto base = dir.file("base.raw");
    ASSERT_TRUE(create_image(base, 1 << 20, Format::raw));
    write_at(base, 0, 1 << 20, 4);
    auto top = dir.file("top.qcow2");
    ASSERT_TRUE(create_image(top, 2 << 20, Format::qcow2, base));  // absolute path
    auto image = open_image(top, Format::autodetect, false);
    ASSERT_TRUE(image) << image.error().message;
    std::vector<std::byte> back(2 << 20);
    ASSERT_TRUE((*image)->read(0, back));
    EXPECT_EQ(std::vector<std::byte>(back.begin(), back.begin() + (1 << 20)),
              pattern(0, 1 << 20, 4));
    EXPECT_EQ(std::vector<std::byte>(back.begin() + (1 << 20), back.end()),
              std::vector<std::byte>(1 << 20));
    // COW of the cluster that straddles nothing beyond the backing end.
    ASSERT_TRUE((*image)->write((1 << 20) + 512, pattern(0, 512, 5)));
    ASSERT_TRUE((*image)->read((1 << 20), std::span(back).first(1024)));
    EXPECT_EQ(back[0], std::byte{0});
}

TEST(Qcow2Backing, MissingBackingIsAnError) {
    Chain chain;
    ASSERT_EQ(::unlink(chain.base.c_str()), 0);
    auto top = open_image(chain.top, Format::qcow2, true);
    ASSERT_FALSE(top);
    EXPECT_NE(top.error().message.find("base.qcow2"), std::string::npos) << top.error().message;
}

}  // namespace
}  // namespace domus::storage
