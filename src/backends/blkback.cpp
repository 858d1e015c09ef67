// BlkBack: ring pass, grant mapping and image I/O for one virtual block device.
#include "backends/blkback.hpp"

#include <cstring>

#include "base/log.hpp"

namespace domus::backends {

BlkBack::BlkBack(BackendHost& host, storage::BlockImage& image, std::span<std::byte> ring, DiskLimits limits)
    : host_(host), image_(image), ring_(ring), limits_(limits) {}

bool BlkBack::process() {
    for (;;) {
        blkif_request raw;
        for (;;) {
            auto next = ring_.next(raw);
            if (next == Ring::Next::overflow) {
                static log::RateLimit limit;
                if (limit.allow()) DOMUS_LOG_WARN("blkback", "frontend ring index out of range; device stopped");
                return false;
            }
            if (next == Ring::Next::empty) break;
            ++stats_.requests;
            auto parsed = parse_blk_request(raw, limits_);
            if (auto* error = std::get_if<BlkError>(&parsed)) {
                ++stats_.bad_requests;
                static log::RateLimit limit;
                if (limit.allow())
                    DOMUS_LOG_WARN("blkback", "request {}: {}", raw.id, blk_error_name(*error));
                respond(raw.id, raw.operation, blk_status(*error));
                continue;
            }
            auto& request = std::get<BlkRequest>(parsed);
            respond(request.id, request.operation, execute(request));
        }
        // One notification for the whole batch, and only if the frontend waits for it.
        if (ring_.publish_responses()) {
            ++stats_.notifications;
            host_.notify_frontend();
        }
        if (!ring_.more_after_final_check()) return true;
    }
}

std::int16_t BlkBack::execute(BlkRequest& request) {
    std::uint64_t offset = request.sector * storage::kSectorSize;
    switch (request.kind) {
        case BlkRequest::Kind::flush:
            return image_.flush() ? BLKIF_RSP_OKAY : (++stats_.io_errors, BLKIF_RSP_ERROR);
        case BlkRequest::Kind::discard:
            return image_.discard(offset, request.nr_sectors * storage::kSectorSize)
                       ? BLKIF_RSP_OKAY
                       : (++stats_.io_errors, BLKIF_RSP_ERROR);
        case BlkRequest::Kind::read:
        case BlkRequest::Kind::write: break;
    }
    if (request.indirect_pages) {
        // The segment lists live in granted pages: copy them out, then check them.
        std::vector<blkif_request_segment> segments(std::size_t(request.indirect_pages) *
                                                    BLKIF_SEGMENTS_PER_INDIRECT_FRAME);
        for (std::uint8_t page = 0; page < request.indirect_pages; ++page) {
            auto mapped = host_.map_grant(request.indirect_grefs[page], false);
            if (!mapped) return ++stats_.bad_requests, BLKIF_RSP_ERROR;
            std::memcpy(segments.data() + std::size_t(page) * BLKIF_SEGMENTS_PER_INDIRECT_FRAME,
                        (*mapped)->bytes().data(), XEN_PAGE_SIZE);
        }
        if (std::holds_alternative<BlkError>(parse_indirect_segments(request, segments.data(), limits_)))
            return ++stats_.bad_requests, BLKIF_RSP_ERROR;
    }
    if (request.flush_before && !image_.flush()) return ++stats_.io_errors, BLKIF_RSP_ERROR;
    return transfer(request);
}

std::int16_t BlkBack::transfer(const BlkRequest& request) {
    // Segments are consecutive on disk: gather them into one buffer and do one image
    // call per request.
    std::size_t total = std::size_t(request.nr_sectors * storage::kSectorSize);
    bounce_.resize(total);
    bool write = request.kind == BlkRequest::Kind::write;
    std::vector<std::unique_ptr<MappedPage>> pages;
    pages.reserve(request.segments.size());
    for (const auto& segment : request.segments) {
        auto mapped = host_.map_grant(segment.gref, !write);  // a read writes guest memory
        if (!mapped) {
            ++stats_.bad_requests;
            static log::RateLimit limit;
            if (limit.allow()) DOMUS_LOG_WARN("blkback", "request {}: {}", request.id, mapped.error().message);
            return BLKIF_RSP_ERROR;
        }
        pages.push_back(std::move(mapped).value());
    }
    std::uint64_t offset = request.sector * storage::kSectorSize;
    if (write) {
        std::size_t at = 0;
        for (std::size_t i = 0; i < pages.size(); ++i) {
            const auto& segment = request.segments[i];
            std::memcpy(bounce_.data() + at, pages[i]->bytes().data() + segment.offset, segment.length);
            at += segment.length;
        }
        if (!image_.write(offset, bounce_)) return ++stats_.io_errors, BLKIF_RSP_ERROR;
        stats_.bytes_written += total;
        return BLKIF_RSP_OKAY;
    }
    if (!image_.read(offset, bounce_)) return ++stats_.io_errors, BLKIF_RSP_ERROR;
    std::size_t at = 0;
    for (std::size_t i = 0; i < pages.size(); ++i) {
        const auto& segment = request.segments[i];
        std::memcpy(pages[i]->bytes().data() + segment.offset, bounce_.data() + at, segment.length);
        at += segment.length;
    }
    stats_.bytes_read += total;
    return BLKIF_RSP_OKAY;
}

void BlkBack::respond(std::uint64_t id, std::uint8_t operation, std::int16_t status) {
    blkif_response response{};
    response.id = id;
    response.operation = operation;
    response.status = status;
    ring_.push_response(response);
}

}  // namespace domus::backends
