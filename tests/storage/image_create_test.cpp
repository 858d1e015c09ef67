// create_image(), parse_size(), image_info() and its rendering.
#include "storage/image_create.hpp"

#include <gtest/gtest.h>

#include "qcow2_checker.hpp"
#include "storage/image_info.hpp"
#include "test_files.hpp"

namespace domus::storage {
namespace {

using testing::TempDir;

TEST(ParseSize, Units) {
    EXPECT_EQ(*parse_size("4096"), 4096u);
    EXPECT_EQ(*parse_size("64k"), 65536u);
    EXPECT_EQ(*parse_size("512M"), 512ull << 20);
    EXPECT_EQ(*parse_size("10G"), 10ull << 30);
    EXPECT_EQ(*parse_size("1GiB"), 1ull << 30);
    EXPECT_EQ(*parse_size("2T"), 2ull << 40);
    EXPECT_FALSE(parse_size(""));
    EXPECT_FALSE(parse_size("G"));
    EXPECT_FALSE(parse_size("10X"));
    EXPECT_FALSE(parse_size("-1"));
    EXPECT_FALSE(parse_size("99999999999E"));
}

TEST(CreateImage, Qcow2InfoAndConsistency) {
    TempDir dir;
    auto path = dir.file("disk.qcow2");
    ASSERT_TRUE(create_image(path, 10ull << 30, Format::qcow2));
    auto report = testing::check_qcow2(path);
    EXPECT_TRUE(report.errors.empty()) << report.summary();
    EXPECT_EQ(report.leaks, 0u);
    auto info = image_info(path);
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->format, Format::qcow2);
    EXPECT_EQ(info->virtual_size, 10ull << 30);
    EXPECT_EQ(info->cluster_size, 65536u);
    EXPECT_EQ(info->qcow2_version, 3u);
    EXPECT_EQ(info->refcount_bits, 16u);
    auto text = render_info(*info);
    EXPECT_NE(text.find("virtual size: 10 GiB (10737418240 bytes)"), std::string::npos) << text;
    EXPECT_NE(text.find("cluster_size: 65536"), std::string::npos);
}

TEST(CreateImage, BackingSizeDefaultsAndInfo) {
    TempDir dir;
    ASSERT_TRUE(create_image(dir.file("base.raw"), 3 << 20, Format::raw));
    ASSERT_TRUE(create_image(dir.file("top.qcow2"), std::nullopt, Format::qcow2,
                             std::string("base.raw"), 4096));
    auto info = image_info(dir.file("top.qcow2"));
    ASSERT_TRUE(info);
    EXPECT_EQ(info->virtual_size, 3u << 20);
    EXPECT_EQ(info->backing_file, "base.raw");
    EXPECT_EQ(info->backing_format, "raw");
    EXPECT_EQ(info->cluster_size, 4096u);
    EXPECT_NE(render_info(*info).find("backing file: base.raw"), std::string::npos);
}

TEST(CreateImage, HugeImageWithSmallClustersNeedsSeveralRefcountBlocks) {
    TempDir dir;
    auto path = dir.file("big.qcow2");
    ASSERT_TRUE(create_image(path, 64ull << 30, Format::qcow2, std::nullopt, 512));
    auto report = testing::check_qcow2(path);
    EXPECT_TRUE(report.errors.empty()) << report.summary();
    EXPECT_EQ(report.leaks, 0u);
    auto image = open_image(path, Format::qcow2, false);
    ASSERT_TRUE(image) << image.error().message;
}

TEST(CreateImage, Errors) {
    TempDir dir;
    EXPECT_FALSE(create_image(dir.file("a.raw"), 1 << 20, Format::raw, std::string("b")));
    EXPECT_FALSE(create_image(dir.file("a.qcow2"), std::nullopt, Format::qcow2));
    EXPECT_FALSE(create_image(dir.file("a.qcow2"), 1 << 20, Format::qcow2, std::nullopt, 3000));
    EXPECT_FALSE(create_image(dir.file("a.qcow2"), 1 << 20, Format::qcow2, std::nullopt, 4u << 20));
    EXPECT_FALSE(create_image(dir.file("a.qcow2"), std::nullopt, Format::qcow2,
                              std::string("missing.qcow2")));
    EXPECT_FALSE(create_image("/nonexistent/dir/a.qcow2", 1 << 20, Format::qcow2));
    EXPECT_FALSE(image_info(dir.file("missing")));
}

TEST(HumanSize, LikeQemu) {
    EXPECT_EQ(human_size(0), "0 B");
    EXPECT_EQ(human_size(196608), "192 KiB");
    EXPECT_EQ(human_size(10ull << 30), "10 GiB");
    EXPECT_EQ(human_size(1536ull << 20), "1.5 GiB");
}

}  // namespace
}  // namespace domus::storage
