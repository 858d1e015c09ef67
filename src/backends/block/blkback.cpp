// BlkBack: ring pass, grant mapping and image I/O for one virtual block device: what
// both engines share, and the synchronous engine (no io_uring). The asynchronous engine
// is in blkback_uring.cpp.
#include "backends/block/blkback.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "base/cycle_clock.hpp"
#include "base/log.hpp"
#include "storage/io_vector.hpp"

namespace domus::backends {

BlkBack::BlkBack(DataPathHost& host, storage::BlockImage& image, std::span<std::byte> ring,
                 DiskLimits limits, bool resume)
    : host_(host),
      image_(image),
      ring_(resume ? Ring(ring, Ring::Resume{}) : Ring(ring)),
      limits_(limits),
      fd_(image.direct_fd()),
      alignment_(image.direct_alignment()),
      uncached_(image.direct_uncached()) {
    CycleClock::start();  // the stage timings' time base
    if (fd_ < 0 && !image.maps_host_extents()) return;
    // SQ of kMaxOps entries (the CQ gets twice that): with at most kMaxOps operations
    // queued or in flight, neither queue can fill up.
    auto queue = storage::UringQueue::create(kMaxOps);
    if (!queue) {
        DOMUS_LOG_WARN("blkback", "io_uring unavailable ({}); synchronous I/O",
                       queue.error().message);
        return;
    }
    uring_.emplace(std::move(queue).value());
    // No more slots than the ring has entries: a full ring is then always "no free slot".
    std::size_t count = std::min<std::size_t>(kMaxInFlight, ring_.size());
    slots_.resize(count);
    for (std::size_t slot = count; slot-- > 0;)
        free_slots_.push_back(std::uint32_t(slot));
}

BlkBack::~BlkBack() {
    wait_for_all_io();
    DOMUS_LOG_DEBUG("blkback",
                    "{} requests, {} passes, {} polled, {} inline, {} io_uring, {} unaligned, "
                    "{} by the image, {} notifications",
                    stats_.requests, stats_.passes, stats_.polled_requests, stats_.inline_transfers,
                    stats_.queued_transfers, stats_.unaligned_transfers, stats_.image_transfers,
                    stats_.notifications);
}

bool BlkBack::process() noexcept {
    if (broken_) return false;
    ++stats_.passes;
    return uring_ ? serve_async() : process_sync();
}

bool BlkBack::complete() noexcept {
    if (broken_) return false;
    if (!uring_) return true;
    // Reset the eventfd before reaping: a completion posted after the reap signals again.
    std::uint64_t count;
    [[maybe_unused]] auto n = ::read(uring_->event_fd(), &count, sizeof(count));
    return serve_async();
}

// ---- Both engines ----

std::int16_t BlkBack::load_indirect_segments(BlkRequest& request) {
    if (!request.indirect_pages) return BLKIF_RSP_OKAY;
    // The segment lists live in granted pages: copy them out (as far as nr_segments
    // reaches), then check them.
    refs_.assign(request.indirect_grefs.begin(),
                 request.indirect_grefs.begin() + request.indirect_pages);
    std::array<std::span<std::byte>, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST> lists;
    std::size_t kept = 0;
    while (persistent_ && kept < refs_.size())
        if (auto page = persistent_->page(refs_[kept], false))
            lists[kept++] = *page;
        else
            break;
    bool mapped_here = kept < refs_.size();
    if (mapped_here) {
        if (auto mapped = host_.map_grants(refs_, false, indirect_pages_); !mapped)
            return bad_request(request.id, "indirect pages: " + mapped.error().message);
        for (std::size_t page = 0; page < refs_.size(); ++page)
            lists[page] = indirect_pages_->page(page);
    }
    indirect_segments_.resize(std::size_t(request.indirect_pages) *
                              BLKIF_SEGMENTS_PER_INDIRECT_FRAME);
    std::size_t left = request.indirect_segments * sizeof(blkif_request_segment);
    for (std::size_t page = 0; page < request.indirect_pages && left > 0; ++page) {
        std::size_t bytes = std::min<std::size_t>(left, XEN_PAGE_SIZE);
        std::memcpy(indirect_segments_.data() + page * BLKIF_SEGMENTS_PER_INDIRECT_FRAME,
                    lists[page].data(), bytes);
        left -= bytes;
    }
    if (mapped_here) indirect_pages_->release();
    auto parsed = parse_indirect_segments(request, indirect_segments_.data(), limits_);
    if (auto* error = std::get_if<BlkError>(&parsed))
        return bad_request(request.id, blk_error_name(*error));
    return BLKIF_RSP_OKAY;
}

std::int16_t BlkBack::map_segments(const BlkRequest& request, std::unique_ptr<MappedPages>& pages,
                                   std::vector<std::span<std::byte>>& data) {
    bool write = request.kind == BlkRequest::Kind::write;
    data.clear();
    if (persistent_) {
        for (const auto& segment : request.segments) {
            auto page = persistent_->page(segment.gref, !write);
            if (!page) break;
            data.push_back(*page);
        }
        stats_.persistent_grants = persistent_->size();
        if (data.size() == request.segments.size()) return BLKIF_RSP_OKAY;
        data.clear();  // not all of them kept: this request maps its own
    }
    refs_.clear();
    for (const auto& segment : request.segments)
        refs_.push_back(segment.gref);
    // A read writes guest memory. `pages` keeps its object (and capacity) for the next.
    if (auto mapped = host_.map_grants(refs_, !write, pages); !mapped)
        return bad_request(request.id, mapped.error().message);
    for (std::size_t i = 0; i < pages->size(); ++i)
        data.push_back(pages->page(i));
    return BLKIF_RSP_OKAY;
}

std::optional<BlkRequest> BlkBack::parse_or_refuse(const blkif_request& raw) {
    ++stats_.requests;
    auto parsed = parse_blk_request(raw, limits_);
    if (auto* error = std::get_if<BlkError>(&parsed)) {
        bad_request(raw.id, blk_error_name(*error));
        respond(raw.id, raw.operation, blk_status(*error));
        return std::nullopt;
    }
    return std::move(std::get<BlkRequest>(parsed));
}

std::int16_t BlkBack::bad_request(std::uint64_t id, std::string_view why) {
    ++stats_.bad_requests;
    static log::RateLimit limit;
    if (limit.allow()) DOMUS_LOG_WARN("blkback", "request {}: {}", id, why);
    return BLKIF_RSP_ERROR;
}

std::int16_t BlkBack::io_error(std::uint64_t id, const Error& error) {
    ++stats_.io_errors;
    static log::RateLimit limit;
    if (limit.allow()) DOMUS_LOG_WARN("blkback", "request {}: {}", id, error.message);
    return BLKIF_RSP_ERROR;
}

void BlkBack::respond(std::uint64_t id, std::uint8_t operation, std::int16_t status) {
    blkif_response response{};
    response.id = id;
    response.operation = operation;
    response.status = status;
    ring_.push_response(response);
    ++unpublished_;
}

void BlkBack::publish() {
    if (unpublished_ == 0) return;
    StageTimer timer(stats_.respond_cycles);
    unpublished_ = 0;
    // One notification for the whole batch, and only if the frontend waits for it.
    if (ring_.publish_responses()) {
        ++stats_.notifications;
        StageTimer doorbell(stats_.notify_cycles);
        host_.notify_frontend();
    }
}

namespace {

std::uint64_t limited_bytes(const BlkRequest& request) {
    bool data = request.kind == BlkRequest::Kind::read || request.kind == BlkRequest::Kind::write;
    return data ? request.nr_sectors * storage::kSectorSize : 0;
}

}  // namespace

bool BlkBack::admit(const BlkRequest& request) {
    return limit_.unlimited() || limit_.try_take(limited_bytes(request), clock_());
}

std::optional<std::chrono::nanoseconds> BlkBack::held_for(RateClock::time_point now) {
    if (!rate_held_) return std::nullopt;
    return limit_.wait_for(limited_bytes(*rate_held_), now);
}

BlkBack::NextRequest BlkBack::next_request(std::optional<BlkRequest>& out, std::size_t& taken) {
    if (rate_held_) {
        if (!admit(*rate_held_)) return NextRequest::held;
        ++taken;
        out = std::move(rate_held_);
        rate_held_.reset();
        return NextRequest::request;
    }
    for (;;) {
        blkif_request raw;
        auto next = ring_.next(raw);
        if (next == Ring::Next::overflow) {
            static log::RateLimit limit;
            if (limit.allow())
                DOMUS_LOG_WARN("blkback", "frontend ring index out of range; device stopped");
            return NextRequest::broken;
        }
        if (next == Ring::Next::empty) return NextRequest::empty;
        ++taken;
        StageTimer timer(stats_.take_cycles);
        auto parsed = parse_or_refuse(raw);
        if (!parsed) continue;
        // Its size is known once its segments are (the limit counts bytes).
        if (auto status = load_indirect_segments(*parsed); status != BLKIF_RSP_OKAY) {
            respond(parsed->id, parsed->operation, status);
            continue;
        }
        if (!admit(*parsed)) {
            rate_held_ = std::move(parsed);
            ++stats_.rate_held;
            return NextRequest::held;
        }
        out = std::move(parsed);
        return NextRequest::request;
    }
}

// ---- Synchronous engine ----

bool BlkBack::process_sync() {
    for (;;) {
        for (;;) {
            std::optional<BlkRequest> parsed;
            std::size_t taken = 0;
            auto next = next_request(parsed, taken);
            if (next == NextRequest::broken) {
                broken_ = true;
                return false;
            }
            if (next != NextRequest::request) break;
            auto& request = *parsed;
            stats_.max_in_flight = std::max<std::uint64_t>(stats_.max_in_flight, 1);
            auto status = execute(request);
            StageTimer timer(stats_.respond_cycles);
            respond(request.id, request.operation, status);
        }
        publish();
        // Held by the limit: the caller comes back after held_for(), not the ring.
        if (rate_held_ || !ring_.more_after_final_check()) return true;
    }
}

std::int16_t BlkBack::execute(BlkRequest& request) {
    std::uint64_t offset = request.sector * storage::kSectorSize;
    switch (request.kind) {
        case BlkRequest::Kind::flush:
            if (auto flushed = image_.flush(); !flushed)
                return io_error(request.id, flushed.error());
            return BLKIF_RSP_OKAY;
        case BlkRequest::Kind::discard:
            if (auto discarded = image_.discard(offset, request.nr_sectors * storage::kSectorSize);
                !discarded)
                return io_error(request.id, discarded.error());
            return BLKIF_RSP_OKAY;
        case BlkRequest::Kind::read:
        case BlkRequest::Kind::write:
            break;
    }
    if (request.flush_before) {
        if (auto flushed = image_.flush(); !flushed) return io_error(request.id, flushed.error());
    }
    return transfer(request);
}

std::int16_t BlkBack::transfer(const BlkRequest& request) {
    // Segments are consecutive on disk: one vectored image call per request, straight
    // between the image and the granted pages.
    bool write = request.kind == BlkRequest::Kind::write;
    std::uint64_t started = CycleClock::now();
    if (auto status = map_segments(request, sync_pages_, sync_data_); status != BLKIF_RSP_OKAY)
        return status;
    stats_.take_cycles += CycleClock::now() - started;
    pieces_.clear();
    for (std::size_t i = 0; i < request.segments.size(); ++i) {
        const auto& segment = request.segments[i];
        storage::io_append(pieces_, sync_data_[i].data() + segment.offset, segment.length);
    }
    std::uint64_t offset = request.sector * storage::kSectorSize;
    started = CycleClock::now();
    auto done = write ? image_.writev(offset, pieces_) : image_.readv(offset, pieces_);
    std::uint64_t moved = CycleClock::now();
    stats_.io_cycles += moved - started;
    if (sync_pages_) sync_pages_->release();
    stats_.respond_cycles += CycleClock::now() - moved;
    if (!done) return io_error(request.id, done.error());
    (write ? stats_.bytes_written : stats_.bytes_read) += request.nr_sectors * storage::kSectorSize;
    ++(write ? stats_.writes : stats_.reads);
    return BLKIF_RSP_OKAY;
}

}  // namespace domus::backends
