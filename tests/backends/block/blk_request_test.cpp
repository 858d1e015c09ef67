// blkif request validation: every rejection, and hostile random requests.
#include "backends/block/blk_request.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>

namespace domus::backends {
namespace {

DiskLimits disk(std::uint64_t sectors = 1024) {
    return DiskLimits{sectors, false, true, 256};
}

blkif_request rw(std::uint8_t op, std::uint64_t sector, std::uint8_t segments,
                 std::uint8_t first = 0, std::uint8_t last = 7) {
    blkif_request raw{};
    raw.operation = op;
    raw.nr_segments = segments;
    raw.id = 0xABCD;
    raw.sector_number = sector;
    for (int i = 0; i < std::min<int>(segments, BLKIF_MAX_SEGMENTS_PER_REQUEST); ++i)
        raw.seg[i] = {grant_ref_t(100 + i), first, last, {}};
    return raw;
}

template <class T>
BlkError error_of(const std::variant<T, BlkError>& result) {
    EXPECT_TRUE(std::holds_alternative<BlkError>(result));
    return std::holds_alternative<BlkError>(result) ? std::get<BlkError>(result)
                                                    : BlkError::unsupported;
}

TEST(BlkRequest, ReadOfElevenFullPages) {
    auto result = parse_blk_request(rw(BLKIF_OP_READ, 8, 11), disk());
    ASSERT_TRUE(std::holds_alternative<BlkRequest>(result));
    auto& request = std::get<BlkRequest>(result);
    EXPECT_EQ(request.kind, BlkRequest::Kind::read);
    EXPECT_EQ(request.id, 0xABCDu);
    EXPECT_EQ(request.nr_sectors, 88u);
    ASSERT_EQ(request.segments.size(), 11u);
    EXPECT_EQ(request.segments[3].gref, 103u);
    EXPECT_EQ(request.segments[3].length, 4096);
}

TEST(BlkRequest, PartialSegmentBecomesAByteRange) {
    auto result = parse_blk_request(rw(BLKIF_OP_WRITE, 0, 1, 2, 5), disk());
    auto& request = std::get<BlkRequest>(result);
    EXPECT_EQ(request.segments[0].offset, 1024);
    EXPECT_EQ(request.segments[0].length, 2048);
    EXPECT_EQ(request.nr_sectors, 4u);
}

TEST(BlkRequest, Rejections) {
    EXPECT_EQ(error_of(parse_blk_request(rw(BLKIF_OP_READ, 0, 0), disk())), BlkError::bad_segments);
    EXPECT_EQ(error_of(parse_blk_request(rw(BLKIF_OP_READ, 0, 12), disk())),
              BlkError::bad_segments);
    EXPECT_EQ(error_of(parse_blk_request(rw(BLKIF_OP_READ, 0, 1, 5, 4), disk())),
              BlkError::bad_segments);
    EXPECT_EQ(error_of(parse_blk_request(rw(BLKIF_OP_READ, 0, 1, 0, 8), disk())),
              BlkError::bad_segments);
    EXPECT_EQ(error_of(parse_blk_request(rw(BLKIF_OP_READ, 1020, 1), disk())),
              BlkError::out_of_range);
    EXPECT_EQ(error_of(parse_blk_request(rw(BLKIF_OP_READ, ~0ull - 3, 1), disk())),
              BlkError::out_of_range);
    EXPECT_EQ(error_of(parse_blk_request(rw(4, 0, 1), disk())), BlkError::unsupported);
    EXPECT_EQ(error_of(parse_blk_request(rw(99, 0, 1), disk())), BlkError::unsupported);
    DiskLimits ro = disk();
    ro.read_only = true;
    EXPECT_EQ(error_of(parse_blk_request(rw(BLKIF_OP_WRITE, 0, 1), ro)), BlkError::read_only);
    EXPECT_TRUE(std::holds_alternative<BlkRequest>(parse_blk_request(rw(BLKIF_OP_READ, 0, 1), ro)));
}

TEST(BlkRequest, LastSectorOfTheDiskIsReachable) {
    EXPECT_TRUE(
        std::holds_alternative<BlkRequest>(parse_blk_request(rw(BLKIF_OP_READ, 1016, 1), disk())));
    EXPECT_EQ(error_of(parse_blk_request(rw(BLKIF_OP_READ, 1017, 1), disk())),
              BlkError::out_of_range);
}

TEST(BlkRequest, FlushWithAndWithoutData) {
    auto pure = std::get<BlkRequest>(parse_blk_request(rw(BLKIF_OP_FLUSH_DISKCACHE, 0, 0), disk()));
    EXPECT_EQ(pure.kind, BlkRequest::Kind::flush);
    // A flush moves nothing, so any sector number is fine.
    EXPECT_TRUE(std::holds_alternative<BlkRequest>(
        parse_blk_request(rw(BLKIF_OP_FLUSH_DISKCACHE, ~0ull, 0), disk())));
    auto with_data =
        std::get<BlkRequest>(parse_blk_request(rw(BLKIF_OP_WRITE_BARRIER, 0, 2), disk()));
    EXPECT_EQ(with_data.kind, BlkRequest::Kind::write);
    EXPECT_TRUE(with_data.flush_before);
}

TEST(BlkRequest, Discard) {
    blkif_request_discard raw{};
    raw.operation = BLKIF_OP_DISCARD;
    raw.sector_number = 100;
    raw.nr_sectors = 24;
    blkif_request copy;
    std::memcpy(&copy, &raw, sizeof(copy));
    auto request = std::get<BlkRequest>(parse_blk_request(copy, disk()));
    EXPECT_EQ(request.kind, BlkRequest::Kind::discard);
    EXPECT_EQ(request.nr_sectors, 24u);
    DiskLimits no_discard = disk();
    no_discard.discard = false;
    EXPECT_EQ(error_of(parse_blk_request(copy, no_discard)), BlkError::unsupported);
    raw.nr_sectors = 2000;
    std::memcpy(&copy, &raw, sizeof(copy));
    EXPECT_EQ(error_of(parse_blk_request(copy, disk())), BlkError::out_of_range);
}

TEST(BlkRequest, IndirectRequestsAndTheirSegmentPages) {
    blkif_request_indirect raw{};
    raw.operation = BLKIF_OP_INDIRECT;
    raw.indirect_op = BLKIF_OP_WRITE;
    raw.nr_segments = 100;
    raw.sector_number = 0;
    raw.indirect_grefs[0] = 9;
    blkif_request copy;
    std::memcpy(&copy, &raw, sizeof(copy));
    auto request = std::get<BlkRequest>(parse_blk_request(copy, disk(4096)));
    EXPECT_EQ(request.indirect_pages, 1);
    std::vector<blkif_request_segment> page(512, blkif_request_segment{7, 0, 7, {}});
    EXPECT_TRUE(
        std::holds_alternative<bool>(parse_indirect_segments(request, page.data(), disk(4096))));
    EXPECT_EQ(request.nr_sectors, 800u);
    EXPECT_EQ(error_of(parse_indirect_segments(request, page.data(), disk(700))),
              BlkError::out_of_range);
    page[50].last_sect = 9;
    EXPECT_EQ(error_of(parse_indirect_segments(request, page.data(), disk(4096))),
              BlkError::bad_segments);

    raw.nr_segments = 257;  // above the advertised maximum
    std::memcpy(&copy, &raw, sizeof(copy));
    EXPECT_EQ(error_of(parse_blk_request(copy, disk(4096))), BlkError::bad_segments);
    raw.nr_segments = 1;
    raw.indirect_op = BLKIF_OP_DISCARD;
    std::memcpy(&copy, &raw, sizeof(copy));
    EXPECT_EQ(error_of(parse_blk_request(copy, disk(4096))), BlkError::unsupported);
}

TEST(BlkRequest, RandomRequestsNeverEscapeTheDisk) {
    std::mt19937_64 random(42);
    DiskLimits limits = disk(5000);
    for (int i = 0; i < 100000; ++i) {
        blkif_request raw;
        auto* bytes = reinterpret_cast<std::uint8_t*>(&raw);
        for (std::size_t b = 0; b < sizeof(raw); ++b)
            bytes[b] = std::uint8_t(random());
        raw.operation = std::uint8_t(random() % 8);
        if (random() % 2) raw.sector_number %= 6000;
        if (random() % 2) raw.nr_segments %= 13;
        auto result = parse_blk_request(raw, limits);
        if (!std::holds_alternative<BlkRequest>(result)) continue;
        const auto& request = std::get<BlkRequest>(result);
        if (request.indirect_segments || request.kind == BlkRequest::Kind::flush)
            continue;  // nothing to move
        ASSERT_LE(request.sector + request.nr_sectors, limits.sectors);
        for (const auto& segment : request.segments) {
            ASSERT_LE(segment.offset + segment.length, 4096);
            ASSERT_GT(segment.length, 0);
        }
    }
}

}  // namespace
}  // namespace domus::backends
