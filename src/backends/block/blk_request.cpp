// blkif request validation.
#include "backends/block/blk_request.hpp"

#include <cstring>

namespace domus::backends {
namespace {

constexpr std::uint32_t kSectorBytes = 512;

bool range_fits(std::uint64_t sector, std::uint64_t count, std::uint64_t capacity) {
    return sector <= capacity && count <= capacity - sector;
}

// Appends checked segments and adds their sectors to request.nr_sectors.
bool add_segments(BlkRequest& request, const blkif_request_segment* segments, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
        blkif_request_segment seg;
        std::memcpy(&seg, &segments[i], sizeof(seg));
        if (seg.first_sect > seg.last_sect || seg.last_sect > 7) return false;
        std::uint16_t sectors = std::uint16_t(seg.last_sect - seg.first_sect + 1);
        request.segments.push_back({seg.gref, std::uint16_t(seg.first_sect * kSectorBytes),
                                    std::uint16_t(sectors * kSectorBytes)});
        request.nr_sectors += sectors;
    }
    return true;
}

}  // namespace

const char* blk_error_name(BlkError error) noexcept {
    switch (error) {
        case BlkError::unsupported:
            return "unsupported operation";
        case BlkError::bad_segments:
            return "bad segments";
        case BlkError::out_of_range:
            return "sector range outside the disk";
        case BlkError::read_only:
            return "write to a read-only disk";
    }
    return "?";
}

std::int16_t blk_status(BlkError error) noexcept {
    return error == BlkError::unsupported ? BLKIF_RSP_EOPNOTSUPP : BLKIF_RSP_ERROR;
}

std::variant<BlkRequest, BlkError> parse_blk_request(const blkif_request& raw,
                                                     const DiskLimits& limits) {
    BlkRequest request;
    request.operation = raw.operation;
    request.id = raw.id;
    request.sector = raw.sector_number;
    switch (raw.operation) {
        case BLKIF_OP_READ:
        case BLKIF_OP_WRITE:
            request.kind =
                raw.operation == BLKIF_OP_READ ? BlkRequest::Kind::read : BlkRequest::Kind::write;
            if (raw.nr_segments == 0 || raw.nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST)
                return BlkError::bad_segments;
            break;
        case BLKIF_OP_FLUSH_DISKCACHE:
        case BLKIF_OP_WRITE_BARRIER:
            // Without data a pure flush; with data a write that follows a flush.
            if (raw.nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST) return BlkError::bad_segments;
            request.kind = raw.nr_segments ? BlkRequest::Kind::write : BlkRequest::Kind::flush;
            request.flush_before = raw.nr_segments != 0;
            break;
        case BLKIF_OP_DISCARD: {
            if (!limits.discard) return BlkError::unsupported;
            blkif_request_discard discard;
            std::memcpy(&discard, &raw, sizeof(discard));
            request.kind = BlkRequest::Kind::discard;
            request.nr_sectors = discard.nr_sectors;
            if (discard.nr_sectors == 0) return BlkError::out_of_range;
            if (limits.read_only) return BlkError::read_only;
            if (!range_fits(request.sector, request.nr_sectors, limits.sectors))
                return BlkError::out_of_range;
            return request;
        }
        case BLKIF_OP_INDIRECT: {
            if (limits.max_indirect_segments == 0) return BlkError::unsupported;
            blkif_request_indirect indirect;
            std::memcpy(&indirect, &raw, sizeof(indirect));
            if (indirect.indirect_op != BLKIF_OP_READ && indirect.indirect_op != BLKIF_OP_WRITE)
                return BlkError::unsupported;
            request.kind = indirect.indirect_op == BLKIF_OP_READ ? BlkRequest::Kind::read
                                                                 : BlkRequest::Kind::write;
            request.sector = indirect.sector_number;
            if (indirect.nr_segments == 0 || indirect.nr_segments > limits.max_indirect_segments ||
                indirect.nr_segments > kMaxIndirectSegments)
                return BlkError::bad_segments;
            request.indirect_segments = indirect.nr_segments;
            request.indirect_pages =
                std::uint8_t((indirect.nr_segments + BLKIF_SEGMENTS_PER_INDIRECT_FRAME - 1) /
                             BLKIF_SEGMENTS_PER_INDIRECT_FRAME);
            if (request.indirect_pages > BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST)
                return BlkError::bad_segments;
            std::memcpy(request.indirect_grefs.data(), indirect.indirect_grefs,
                        sizeof(indirect.indirect_grefs));
            if (request.kind == BlkRequest::Kind::write && limits.read_only)
                return BlkError::read_only;
            return request;  // segments come with parse_indirect_segments
        }
        default:
            return BlkError::unsupported;
    }
    if (request.kind == BlkRequest::Kind::write && limits.read_only) return BlkError::read_only;
    if (!add_segments(request, raw.seg, raw.nr_segments)) return BlkError::bad_segments;
    // A pure flush moves no sectors: its sector number means nothing (as in Xen's blkback).
    if (request.kind != BlkRequest::Kind::flush &&
        !range_fits(request.sector, request.nr_sectors, limits.sectors))
        return BlkError::out_of_range;
    return request;
}

std::variant<bool, BlkError> parse_indirect_segments(BlkRequest& request,
                                                     const blkif_request_segment* segments,
                                                     const DiskLimits& limits) {
    request.segments.clear();
    request.nr_sectors = 0;
    if (!add_segments(request, segments, request.indirect_segments)) return BlkError::bad_segments;
    if (!range_fits(request.sector, request.nr_sectors, limits.sectors))
        return BlkError::out_of_range;
    return true;
}

}  // namespace domus::backends
