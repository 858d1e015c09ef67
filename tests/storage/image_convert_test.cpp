// convert_image(): raw <-> qcow2, backing chains flattened, sparse results, the progress
// callback, and every refusal (existing target, locked source, bad input) leaving no target.
#include "storage/image_convert.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fd.hpp"
#include "qcow2_checker.hpp"
#include "storage/image_info.hpp"
#include "storage/image_lock.hpp"
#include "test_files.hpp"

namespace domus::storage {
namespace {

using testing::pattern;
using testing::TempDir;

#define EXPECT_CONTAINS(text, part) EXPECT_NE((text).find(part), std::string::npos) << (text)

constexpr std::uint64_t kSize = 8u << 20;

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

std::uint64_t allocated_bytes(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0);
    return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

std::vector<std::byte> read_disk(const std::string& path, Format format = Format::autodetect) {
    auto image = open_image(path, format, true);
    EXPECT_TRUE(image) << image.error().message;
    if (!image) return {};
    std::vector<std::byte> out((*image)->size_bytes());
    EXPECT_TRUE((*image)->read(0, out));
    return out;
}

// Writes three 64 KiB extents (cluster-aligned) into an image of kSize; the rest stays
// unwritten. Returns the expected disk contents.
std::vector<std::byte> write_extents(const std::string& path, std::uint32_t seed) {
    std::vector<std::byte> model(kSize);
    auto image = open_image(path, Format::autodetect, false);
    EXPECT_TRUE(image) << image.error().message;
    for (std::uint64_t offset : {std::uint64_t{0}, std::uint64_t{3} << 20, kSize - (64 << 10)}) {
        auto data = pattern(offset, 64 << 10, seed);
        EXPECT_TRUE((*image)->write(offset, data));
        std::copy(data.begin(), data.end(), model.begin() + static_cast<long>(offset));
    }
    return model;
}

ConvertOptions to(Format format) {
    ConvertOptions options;
    options.target_format = format;
    return options;
}

TEST(ConvertImage, RawToQcow2IsSparseAndConsistent) {
    TempDir dir;
    auto raw = dir.file("src.raw"), qcow2 = dir.file("out.qcow2");
    ASSERT_TRUE(create_image(raw, kSize, Format::raw));
    auto model = write_extents(raw, 1);
    std::vector<ConvertProgress> calls;
    auto converted = convert_image(raw, qcow2, to(Format::qcow2),
                                   [&](const ConvertProgress& p) { calls.push_back(p); });
    ASSERT_TRUE(converted) << converted.error().message;
    EXPECT_TRUE(read_disk(qcow2) == model);
    auto report = testing::check_qcow2(qcow2);
    EXPECT_TRUE(report.errors.empty()) << report.summary();
    EXPECT_EQ(report.leaks, 0u);
    EXPECT_EQ(report.data_clusters, 3u);  // 64 KiB clusters: only the written extents
    auto info = image_info(qcow2);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->virtual_size, kSize);
    EXPECT_TRUE(info->backing_file.empty());
    ASSERT_GE(calls.size(), 2u);
    EXPECT_EQ(calls.front().done, 0u);
    EXPECT_EQ(calls.back().done, kSize);
    for (std::size_t i = 1; i < calls.size(); ++i) {
        EXPECT_GE(calls[i].done, calls[i - 1].done);
        EXPECT_EQ(calls[i].total, kSize);
    }
}

TEST(ConvertImage, Qcow2ToRawStaysSparse) {
    TempDir dir;
    auto qcow2 = dir.file("src.qcow2"), raw = dir.file("out.raw");
    ASSERT_TRUE(create_image(qcow2, kSize, Format::qcow2));
    auto model = write_extents(qcow2, 2);
    {  // a cluster written with zeros is data in the source, but not worth writing
        auto image = open_image(qcow2, Format::qcow2, false);
        ASSERT_TRUE((*image)->write(5 << 20, std::vector<std::byte>(64 << 10)));
    }
    ASSERT_TRUE(convert_image(qcow2, raw, to(Format::raw)));
    EXPECT_TRUE(testing::read_file(raw) == model);
    EXPECT_LE(allocated_bytes(raw), 3u * (64 << 10) + 64 * 1024);
    EXPECT_EQ(image_info(raw)->format, Format::raw);
}

TEST(ConvertImage, ChainBecomesStandalone) {
    TempDir dir;
    auto base = dir.file("base.raw"), mid = dir.file("mid.qcow2"), top = dir.file("top.qcow2");
    ASSERT_TRUE(create_image(base, kSize, Format::raw));
    write_extents(base, 3);
    ASSERT_TRUE(create_image(mid, std::nullopt, Format::qcow2, std::string("base.raw"), 4096));
    ASSERT_TRUE(create_image(top, std::nullopt, Format::qcow2, std::string("mid.qcow2")));
    {  // the top hides part of the base extent at 3 MiB and adds one of its own
        auto image = open_image(mid, Format::qcow2, false);
        ASSERT_TRUE((*image)->write((3 << 20) + 4096, pattern(0, 8192, 4)));
        auto upper = open_image(top, Format::qcow2, false);
        ASSERT_TRUE((*upper)->write(6 << 20, pattern(6 << 20, 128 << 10, 5)));
    }
    auto expected = read_disk(top);
    for (Format format : {Format::qcow2, Format::raw}) {
        auto out = dir.file(format == Format::qcow2 ? "flat.qcow2" : "flat.raw");
        auto converted = convert_image(top, out, to(format));
        ASSERT_TRUE(converted) << converted.error().message;
        EXPECT_TRUE(read_disk(out, format) == expected);
        auto info = image_info(out);
        ASSERT_TRUE(info);
        EXPECT_EQ(info->format, format);
        EXPECT_TRUE(info->backing_file.empty());
    }
    // The standalone copy does not need the chain any more.
    ASSERT_EQ(::unlink(base.c_str()), 0);
    EXPECT_TRUE(read_disk(dir.file("flat.qcow2")) == expected);
}

TEST(ConvertImage, RawSourceOfAnyLength) {
    TempDir dir;
    auto raw = dir.file("odd.raw"), out = dir.file("odd.qcow2");
    auto data = pattern(0, 1000, 6);
    testing::write_file(raw, data);
    ASSERT_TRUE(convert_image(raw, out, to(Format::qcow2)));
    auto disk = read_disk(out);
    ASSERT_EQ(disk.size(), 1024u);
    EXPECT_TRUE(std::equal(data.begin(), data.end(), disk.begin()));
    EXPECT_TRUE(
        std::all_of(disk.begin() + 1000, disk.end(), [](auto b) { return b == std::byte{0}; }));
}

TEST(ConvertImage, ExistingTargetIsRefusedUnlessForced) {
    TempDir dir;
    auto src = dir.file("src.qcow2"), out = dir.file("out.raw");
    ASSERT_TRUE(create_image(src, kSize, Format::qcow2));
    auto model = write_extents(src, 7);
    auto keep = pattern(0, 4096, 8);
    testing::write_file(out, keep);
    auto refused = convert_image(src, out, to(Format::raw));
    ASSERT_FALSE(refused);
    EXPECT_CONTAINS(refused.error().message, out);
    EXPECT_CONTAINS(refused.error().message, "already exists");
    EXPECT_TRUE(testing::read_file(out) == keep);  // untouched

    ConvertOptions force = to(Format::raw);
    force.overwrite = true;
    ASSERT_TRUE(convert_image(src, out, force));
    EXPECT_TRUE(testing::read_file(out) == model);
}

TEST(ConvertImage, TargetThatIsTheSourceIsRefused) {
    TempDir dir;
    auto base = dir.file("base.qcow2"), top = dir.file("top.qcow2");
    ASSERT_TRUE(create_image(base, kSize, Format::qcow2));
    ASSERT_TRUE(create_image(top, std::nullopt, Format::qcow2, std::string("base.qcow2")));
    auto model = write_extents(base, 9);
    ConvertOptions force;
    force.overwrite = true;
    for (const auto& target : {top, base}) {
        auto refused = convert_image(top, target, force);
        ASSERT_FALSE(refused);
        EXPECT_CONTAINS(refused.error().message, "the source image or one of its backing files");
    }
    EXPECT_TRUE(read_disk(top) == model);
}

TEST(ConvertImage, TargetInUseIsRefusedEvenWhenForced) {
    TempDir dir;
    auto src = dir.file("src.raw"), out = dir.file("busy.qcow2");
    ASSERT_TRUE(create_image(src, kSize, Format::raw));
    ASSERT_TRUE(create_image(out, kSize, Format::qcow2));
    auto before = testing::read_file(out);
    Fd fd(::open(out.c_str(), O_RDWR | O_CLOEXEC));
    ImageLockTable domain;  // another process, as far as the locks go
    auto held = ImageLock::acquire(fd.get(), out, kWriterLock, domain);
    ASSERT_TRUE(held);
    ConvertOptions force;
    force.overwrite = true;
    auto refused = convert_image(src, out, force);
    ASSERT_FALSE(refused);
    EXPECT_CONTAINS(refused.error().message, out);
    EXPECT_TRUE(testing::read_file(out) == before);  // neither wiped nor removed
}

TEST(ConvertImage, SourceADomainWritesIsRefusedUnlessShared) {
    TempDir dir;
    auto src = dir.file("disk.qcow2"), out = dir.file("copy.qcow2");
    ASSERT_TRUE(create_image(src, kSize, Format::qcow2));
    auto model = write_extents(src, 10);
    Fd fd(::open(src.c_str(), O_RDWR | O_CLOEXEC));
    ImageLockTable domain;
    auto held = ImageLock::acquire(fd.get(), src, kWriterLock, domain);
    ASSERT_TRUE(held);
    auto refused = convert_image(src, out, {});
    ASSERT_FALSE(refused);
    EXPECT_CONTAINS(refused.error().message, src);
    EXPECT_CONTAINS(refused.error().message, "in use");
    EXPECT_FALSE(exists(out));

    ConvertOptions shared;
    shared.share_source = true;
    auto converted = convert_image(src, out, shared);
    ASSERT_TRUE(converted) << converted.error().message;
    EXPECT_TRUE(read_disk(out) == model);
}

TEST(ConvertImage, ReadersOfTheSourceDoNotStopIt) {
    TempDir dir;
    auto src = dir.file("disk.raw"), out = dir.file("copy.qcow2");
    ASSERT_TRUE(create_image(src, kSize, Format::raw));
    Fd fd(::open(src.c_str(), O_RDONLY | O_CLOEXEC));
    ImageLockTable reader;
    auto held = ImageLock::acquire(fd.get(), src, kReaderLock, reader);
    ASSERT_TRUE(held);
    EXPECT_TRUE(convert_image(src, out, {}));
}

TEST(ConvertImage, MissingSourceLeavesNoTarget) {
    TempDir dir;
    auto out = dir.file("out.qcow2");
    auto refused = convert_image(dir.file("nope.raw"), out, {});
    ASSERT_FALSE(refused);
    EXPECT_CONTAINS(refused.error().message, "nope.raw");
    EXPECT_CONTAINS(refused.error().message, "No such file");
    EXPECT_FALSE(exists(out));
}

TEST(ConvertImage, FormatNames) {
    EXPECT_EQ(*parse_format("raw"), Format::raw);
    EXPECT_EQ(*parse_format("qcow2"), Format::qcow2);
    auto unknown = parse_format("vmdk");
    ASSERT_FALSE(unknown);
    EXPECT_CONTAINS(unknown.error().message, "unknown image format 'vmdk'");
}

TEST(ConvertImage, Qcow2ClaimedForARawFileIsRefused) {
    TempDir dir;
    auto src = dir.file("plain.raw"), out = dir.file("out.raw");
    ASSERT_TRUE(create_image(src, kSize, Format::raw));
    ConvertOptions options = to(Format::raw);
    options.source_format = Format::qcow2;
    auto refused = convert_image(src, out, options);
    ASSERT_FALSE(refused);
    EXPECT_CONTAINS(refused.error().message, src);
    EXPECT_FALSE(exists(out));
}

TEST(ConvertImage, TruncatedQcow2HeaderLeavesNoTarget) {
    TempDir dir;
    auto src = dir.file("cut.qcow2"), out = dir.file("out.raw");
    ASSERT_TRUE(create_image(src, kSize, Format::qcow2));
    ASSERT_EQ(::truncate(src.c_str(), 50), 0);
    auto refused = convert_image(src, out, to(Format::raw));
    ASSERT_FALSE(refused);
    EXPECT_CONTAINS(refused.error().message, src);
    EXPECT_FALSE(exists(out));
}

// Open succeeds (the metadata is whole) but the data clusters are cut off: the failure
// comes mid-copy, after the target was made, and the target goes again.
TEST(ConvertImage, Qcow2WithDataCutOffFailsMidCopyAndLeavesNoTarget) {
    TempDir dir;
    auto src = dir.file("cut.qcow2");
    ASSERT_TRUE(create_image(src, kSize, Format::qcow2));
    write_extents(src, 11);
    struct stat st {};
    ASSERT_EQ(::stat(src.c_str(), &st), 0);
    ASSERT_EQ(::truncate(src.c_str(), st.st_size - (64 << 10)), 0);  // the last data cluster
    for (Format format : {Format::raw, Format::qcow2}) {
        auto out = dir.file(format == Format::raw ? "out.raw" : "out.qcow2");
        auto refused = convert_image(src, out, to(format));
        ASSERT_FALSE(refused);
        EXPECT_CONTAINS(refused.error().message, src);
        EXPECT_CONTAINS(refused.error().message, "read at offset");
        EXPECT_FALSE(exists(out));
    }
}

}  // namespace
}  // namespace domus::storage
