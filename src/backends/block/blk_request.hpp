// BlkRequest: a blkif request parsed from the frontend's copy into a checked value
// (operation, sector range inside the disk, segments as byte ranges of granted pages).
// Validation lives only here, so it can be tested and fuzzed on its own.
#pragma once

#include <array>
#include <cstdint>
#include <variant>
#include <vector>

#include <domus/abi/blkif.h>

namespace domus::backends {

// The most segments an indirect request may ever carry here, whatever a device
// advertises: one request's data is moved with one vectored call, which takes at most
// IOV_MAX (1024) pieces.
inline constexpr std::uint32_t kMaxIndirectSegments = 256;

struct DiskLimits {
    std::uint64_t sectors = 0;  // capacity in 512-byte sectors
    bool read_only = false;
    bool discard = false;                                        // feature-discard advertised
    std::uint32_t max_indirect_segments = kMaxIndirectSegments;  // at most that; 0: none
};

struct BlkSegment {
    grant_ref_t gref;
    std::uint16_t offset;  // byte offset in the page
    std::uint16_t length;  // bytes, a multiple of 512, 512..4096
};

struct BlkRequest {
    enum class Kind { read, write, flush, discard } kind = Kind::read;
    std::uint8_t operation = 0;  // the ring's op, echoed in the response
    std::uint64_t id = 0;
    std::uint64_t sector = 0;
    std::uint64_t nr_sectors = 0;  // of the data (read/write) or of the discard
    bool flush_before = false;     // BLKIF_OP_FLUSH/BARRIER with data: flush, then write
    std::vector<BlkSegment> segments;
    // Indirect requests: the pages holding the segment list, parsed by
    // parse_indirect_segments once the backend has mapped them.
    std::uint16_t indirect_segments = 0;
    std::array<grant_ref_t, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST> indirect_grefs{};
    std::uint8_t indirect_pages = 0;
};

enum class BlkError {
    unsupported,   // answered with BLKIF_RSP_EOPNOTSUPP
    bad_segments,  // count out of range, first/last sector wrong
    out_of_range,  // past the end of the disk (or overflowing)
    read_only,     // a write to a read-only disk
};

const char* blk_error_name(BlkError error) noexcept;
std::int16_t blk_status(BlkError error) noexcept;  // the BLKIF_RSP_* to answer with

// `raw` is the backend's private copy of the slot.
std::variant<BlkRequest, BlkError> parse_blk_request(const blkif_request& raw,
                                                     const DiskLimits& limits);

// Fills request.segments from the copied indirect segment arrays (512 per page) and
// checks them and the total range like direct segments.
std::variant<bool, BlkError> parse_indirect_segments(BlkRequest& request,
                                                     const blkif_request_segment* segments,
                                                     const DiskLimits& limits);

}  // namespace domus::backends
