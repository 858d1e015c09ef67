// image_merge: streaming a middle image into its child and rebasing it (in place and by
// merged copy) keeps every byte the child reads; zero clusters and the child's own
// clusters survive; the result is consistent (our checker and qemu-img check).
#include <gtest/gtest.h>

#include <filesystem>

#include "qcow2_checker.hpp"
#include "storage/image_create.hpp"
#include "storage/image_info.hpp"
#include "storage/image_merge.hpp"
#include "storage/qcow2_image.hpp"
#include "test_files.hpp"

namespace domus::storage {
namespace {

using testing::pattern;
using testing::TempDir;

constexpr std::uint64_t kCluster = 65536;
constexpr std::uint64_t kSize = 16 * kCluster + 4096;  // a partial last cluster

void write_at(const std::string& path, std::uint64_t offset, std::uint64_t length,
              std::uint32_t seed) {
    auto image = open_image(path, Format::qcow2, false);
    ASSERT_TRUE(image) << image.error().message;
    ASSERT_TRUE((*image)->write(offset, pattern(offset, length, seed)));
    ASSERT_TRUE((*image)->flush());
}

void zero_at(const std::string& path, std::uint64_t offset, std::uint64_t length) {
    auto image = open_image(path, Format::qcow2, false);
    ASSERT_TRUE(image) << image.error().message;
    ASSERT_TRUE((*image)->discard(offset, length));
    ASSERT_TRUE((*image)->flush());
}

std::vector<std::byte> contents(const std::string& path) {
    auto image = open_image(path, Format::qcow2, true);
    EXPECT_TRUE(image) << image.error().message;
    if (!image) return {};
    std::vector<std::byte> out((*image)->size_bytes());
    EXPECT_TRUE((*image)->read(0, out));
    return out;
}

// base (clusters 0-7 seed 1) <- mid (clusters 2-5 seed 2, cluster 6 zero, the partial
// tail seed 4) <- top (cluster 3 seed 3, cluster 4 half written).
struct Chain {
    TempDir dir;
    std::string base = dir.file("base.qcow2"), mid = dir.file("mid.qcow2"),
                top = dir.file("top.qcow2");
    Chain() {
        EXPECT_TRUE(create_image(base, kSize, Format::qcow2));
        write_at(base, 0, 8 * kCluster, 1);
        EXPECT_TRUE(create_image(mid, std::nullopt, Format::qcow2, base, kCluster, Format::qcow2));
        write_at(mid, 2 * kCluster, 4 * kCluster, 2);
        zero_at(mid, 6 * kCluster, kCluster);
        write_at(mid, 16 * kCluster, 4096, 4);
        EXPECT_TRUE(create_image(top, std::nullopt, Format::qcow2, mid, kCluster, Format::qcow2));
        write_at(top, 3 * kCluster, kCluster, 3);
        write_at(top, 4 * kCluster, 4096, 5);
    }
};

void expect_consistent(const std::string& path) {
    auto report = testing::check_qcow2(path);
    EXPECT_TRUE(report.errors.empty()) << path << ": " << report.summary();
    EXPECT_EQ(report.leaks, 0u) << path << ": " << report.summary();
    if (testing::have_program("qemu-img")) {
        std::string output;
        EXPECT_EQ(testing::run_command("qemu-img check " + path, &output), 0) << output;
    }
}

TEST(ImageMerge, StreamAndRebaseKeepsEveryByte) {
    Chain chain;
    auto before = contents(chain.top);
    auto top = Qcow2Image::open(chain.top, Qcow2Options{});
    ASSERT_TRUE(top) << top.error().message;
    auto copied = stream_and_rebase(**top, chain.base, Format::qcow2);
    ASSERT_TRUE(copied) << copied.error().message;
    // mid's clusters 2, 4 (top has part of it: kept), 5 and the tail; 3 is top's own.
    EXPECT_EQ(*copied, 2 * kCluster + 4096);
    EXPECT_EQ((*top)->header().backing_file, chain.base);
    std::vector<std::byte> live(kSize);
    ASSERT_TRUE((*top)->read(0, live));
    EXPECT_EQ(live, before);  // the open image reads the same through its new chain
    top->reset();
    std::filesystem::remove(chain.mid);  // nothing refers to it any more
    EXPECT_EQ(contents(chain.top), before);
    auto info = image_info(chain.top);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->backing_file, chain.base);
    EXPECT_EQ(info->backing_format, "qcow2");
    expect_consistent(chain.top);
}

TEST(ImageMerge, ZeroClusterOfTheRemovedImageStaysZero) {
    Chain chain;
    {
        auto top = Qcow2Image::open(chain.top, Qcow2Options{});
        ASSERT_TRUE(top) << top.error().message;
        ASSERT_TRUE(stream_and_rebase(**top, chain.base, Format::qcow2));
        auto state = (*top)->cluster_state(6);
        ASSERT_TRUE(state);
        EXPECT_EQ(*state, Qcow2Image::ClusterState::zero);
    }
    auto after = contents(chain.top);
    EXPECT_EQ(std::vector<std::byte>(after.begin() + 6 * kCluster, after.begin() + 7 * kCluster),
              std::vector<std::byte>(kCluster));
}

TEST(ImageMerge, MergedCopyReplacesTheChildAndReadsTheSame) {
    Chain chain;
    auto before = contents(chain.top);
    auto written = replace_with_merged_copy(chain.top, chain.base, Format::qcow2);
    ASSERT_TRUE(written) << written.error().message;
    // Top's own clusters 3 and 4, then mid's it lacks: 2, 5 and the tail.
    EXPECT_EQ(written->merged, 2 * kCluster + 4096);
    EXPECT_EQ(written->written, 4 * kCluster + 4096);
    EXPECT_FALSE(std::filesystem::exists(chain.top + ".merge"));
    std::filesystem::remove(chain.mid);
    EXPECT_EQ(contents(chain.top), before);
    auto info = image_info(chain.top);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->backing_file, chain.base);
    expect_consistent(chain.top);
}

TEST(ImageMerge, ReaderOfTheOldChildKeepsReadingTheSame) {
    Chain chain;
    auto before = contents(chain.top);
    auto reader = open_image(chain.top, Format::qcow2, true);
    ASSERT_TRUE(reader) << reader.error().message;
    ASSERT_TRUE(replace_with_merged_copy(chain.top, chain.base, Format::qcow2));
    std::filesystem::remove(chain.mid);
    std::vector<std::byte> seen(kSize);
    ASSERT_TRUE((*reader)->read(0, seen));
    EXPECT_EQ(seen, before);
}

TEST(ImageMerge, SetBackingWithTheSameNameReopensAReplacedFile) {
    // The monitor's side of deleting an image deeper in its chain: in
    // top -> mid -> deleted -> lower, mid is replaced by its merged copy over lower; the
    // open top lets go of the old mid (and so of `deleted`) by reopening the same name.
    TempDir dir;
    std::string lower = dir.file("lower.qcow2"), deleted = dir.file("deleted.qcow2"),
                mid = dir.file("mid.qcow2"), top = dir.file("top.qcow2");
    ASSERT_TRUE(create_image(lower, kSize, Format::qcow2));
    write_at(lower, 7 * kCluster, kCluster, 6);
    ASSERT_TRUE(create_image(deleted, std::nullopt, Format::qcow2, lower, kCluster, Format::qcow2));
    write_at(deleted, 1 * kCluster, kCluster, 7);
    ASSERT_TRUE(create_image(mid, std::nullopt, Format::qcow2, deleted, kCluster, Format::qcow2));
    write_at(mid, 2 * kCluster, kCluster, 8);
    ASSERT_TRUE(create_image(top, std::nullopt, Format::qcow2, mid, kCluster, Format::qcow2));
    auto before = contents(top);
    auto image = Qcow2Image::open(top, Qcow2Options{});
    ASSERT_TRUE(image) << image.error().message;
    ASSERT_TRUE(replace_with_merged_copy(mid, lower, Format::qcow2));
    std::filesystem::remove(deleted);
    ASSERT_TRUE((*image)->set_backing(mid, Format::qcow2));
    auto* below = dynamic_cast<Qcow2Image*>((*image)->backing());
    ASSERT_NE(below, nullptr);
    EXPECT_EQ(below->header().backing_file, lower);  // the merged copy, not the old file
    std::vector<std::byte> live(kSize);
    ASSERT_TRUE((*image)->read(0, live));
    EXPECT_EQ(live, before);
    image->reset();
    EXPECT_EQ(contents(top), before);
    expect_consistent(top);
    expect_consistent(mid);
}

TEST(ImageMerge, ClusterTheChildWroteMeanwhileIsNotOverwritten) {
    Chain chain;
    auto top = Qcow2Image::open(chain.top, Qcow2Options{});
    ASSERT_TRUE(top) << top.error().message;
    auto* mid = dynamic_cast<Qcow2Image*>((*top)->backing());
    ASSERT_NE(mid, nullptr);
    // Half the stream, then a guest write into a cluster still to come, then the rest.
    ASSERT_TRUE(copy_missing_clusters(*mid, **top, 0, 3));
    auto fresh = pattern(5 * kCluster, 4096, 9);
    ASSERT_TRUE((*top)->write(5 * kCluster, fresh));
    ASSERT_TRUE(copy_missing_clusters(*mid, **top, 3, cluster_count(**top) - 3));
    std::vector<std::byte> back(4096);
    ASSERT_TRUE((*top)->read(5 * kCluster, back));
    EXPECT_EQ(back, fresh);
}

TEST(ImageMerge, CrashedMergedCopyIsRemovedAndRedone) {
    Chain chain;
    auto before = contents(chain.top);
    testing::write_file(chain.top + ".merge", pattern(0, 4096, 7));  // a torn leftover
    ASSERT_TRUE(replace_with_merged_copy(chain.top, chain.base, Format::qcow2));
    EXPECT_EQ(contents(chain.top), before);
}

TEST(ImageMerge, DifferentClusterSizesAreRefused) {
    TempDir dir;
    std::string base = dir.file("b.qcow2"), mid = dir.file("m.qcow2"), top = dir.file("t.qcow2");
    ASSERT_TRUE(create_image(base, kSize, Format::qcow2));
    ASSERT_TRUE(create_image(mid, std::nullopt, Format::qcow2, base, 4096, Format::qcow2));
    ASSERT_TRUE(create_image(top, std::nullopt, Format::qcow2, mid, kCluster, Format::qcow2));
    auto image = Qcow2Image::open(top, Qcow2Options{});
    ASSERT_TRUE(image);
    auto streamed = stream_and_rebase(**image, base, Format::qcow2);
    ASSERT_FALSE(streamed);
    EXPECT_NE(streamed.error().message.find("different cluster sizes"), std::string::npos);
    auto info = image_info(top);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->backing_file, mid);  // nothing changed
}

}  // namespace
}  // namespace domus::storage
