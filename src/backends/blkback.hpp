// BlkBack: the block backend's request engine. It takes requests from the shared ring
// (copied, then parsed by blk_request), moves data between granted pages and the disk
// image, and answers on the ring; a bad request gets an error response and the device
// keeps working. The caller owns the thread and calls process() when the frontend
// rang (or after start-up).
#pragma once

#include <cstdint>
#include <memory>

#include "backends/backend_host.hpp"
#include "backends/blk_request.hpp"
#include "backends/shared_ring.hpp"
#include "storage/block_image.hpp"

namespace domus::backends {

struct BlkStats {
    std::uint64_t requests = 0;
    std::uint64_t bad_requests = 0;  // parse or grant failures (each answered with an error)
    std::uint64_t io_errors = 0;
    std::uint64_t bytes_read = 0;
    std::uint64_t bytes_written = 0;
    std::uint64_t notifications = 0;  // frontend notifications we sent
};

class BlkBack {
public:
    using Ring = BackendRing<blkif_sring_entry, blkif_request, blkif_response>;

    // `ring` maps the frontend's ring page (kept mapped by the caller).
    BlkBack(BackendHost& host, storage::BlockImage& image, std::span<std::byte> ring, DiskLimits limits);

    // Serves every request available (and any that arrive before the final check).
    // False when the frontend broke the ring protocol: stop serving it.
    bool process();
    const BlkStats& stats() const noexcept { return stats_; }

private:
    std::int16_t execute(BlkRequest& request);
    std::int16_t transfer(const BlkRequest& request);
    void respond(std::uint64_t id, std::uint8_t operation, std::int16_t status);

    BackendHost& host_;
    storage::BlockImage& image_;
    Ring ring_;
    DiskLimits limits_;
    BlkStats stats_;
    std::vector<std::byte> bounce_;  // one request's data (max 4096 x indirect segments)
};

}  // namespace domus::backends
