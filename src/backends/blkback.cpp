// BlkBack: ring pass, grant mapping and image I/O for one virtual block device, through
// io_uring (raw images) or synchronously (qcow2).
#include "backends/blkback.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "base/log.hpp"

namespace domus::backends {
namespace {

// The io_uring tag of an operation: the slot in the high half, the segment index (or
// kFsyncOp, kBounceOp) in the low half.
constexpr std::uint32_t kFsyncOp = 0xFFFFFFFF;
constexpr std::uint32_t kBounceOp = 0xFFFFFFFE;  // the whole request through Slot::bounce

// Requests of several segments up to this size go through one bounce buffer and one
// read or write: one operation instead of one per page is cheaper than the copy (a
// buffered write that the kernel hands to a worker costs a thread hop each). Bigger
// ones go segment by segment, so a slot never holds more than this.
constexpr std::uint64_t kMaxBounce = 128 * 1024;

std::uint64_t make_tag(std::uint32_t slot, std::uint32_t op) {
    return (std::uint64_t(slot) << 32) | op;
}

bool is_barrier(const BlkRequest& request) {
    return request.kind == BlkRequest::Kind::flush || request.kind == BlkRequest::Kind::discard ||
           request.flush_before;
}

}  // namespace

BlkBack::BlkBack(BackendHost& host, storage::BlockImage& image, std::span<std::byte> ring,
                 DiskLimits limits, bool resume)
    : host_(host),
      image_(image),
      ring_(resume ? Ring(ring, Ring::Resume{}) : Ring(ring)),
      limits_(limits),
      fd_(image.direct_fd()) {
    if (fd_ < 0) return;
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
}

bool BlkBack::process() noexcept {
    if (broken_) return false;
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
    // The segment lists live in granted pages: copy them out, then check them.
    std::vector<blkif_request_segment> segments(std::size_t(request.indirect_pages) *
                                                BLKIF_SEGMENTS_PER_INDIRECT_FRAME);
    for (std::uint8_t page = 0; page < request.indirect_pages; ++page) {
        auto mapped = host_.map_grant(request.indirect_grefs[page], false);
        if (!mapped) return ++stats_.bad_requests, BLKIF_RSP_ERROR;
        std::memcpy(segments.data() + std::size_t(page) * BLKIF_SEGMENTS_PER_INDIRECT_FRAME,
                    (*mapped)->bytes().data(), XEN_PAGE_SIZE);
    }
    if (std::holds_alternative<BlkError>(
            parse_indirect_segments(request, segments.data(), limits_)))
        return ++stats_.bad_requests, BLKIF_RSP_ERROR;
    return BLKIF_RSP_OKAY;
}

std::int16_t BlkBack::map_segments(const BlkRequest& request,
                                   std::vector<std::unique_ptr<MappedPage>>& pages) {
    bool write = request.kind == BlkRequest::Kind::write;
    pages.clear();
    pages.reserve(request.segments.size());
    for (const auto& segment : request.segments) {
        auto mapped = host_.map_grant(segment.gref, !write);  // a read writes guest memory
        if (!mapped) {
            pages.clear();
            ++stats_.bad_requests;
            static log::RateLimit limit;
            if (limit.allow())
                DOMUS_LOG_WARN("blkback", "request {}: {}", request.id, mapped.error().message);
            return BLKIF_RSP_ERROR;
        }
        pages.push_back(std::move(mapped).value());
    }
    return BLKIF_RSP_OKAY;
}

std::optional<BlkRequest> BlkBack::parse_or_refuse(const blkif_request& raw) {
    ++stats_.requests;
    auto parsed = parse_blk_request(raw, limits_);
    if (auto* error = std::get_if<BlkError>(&parsed)) {
        ++stats_.bad_requests;
        static log::RateLimit limit;
        if (limit.allow())
            DOMUS_LOG_WARN("blkback", "request {}: {}", raw.id, blk_error_name(*error));
        respond(raw.id, raw.operation, blk_status(*error));
        return std::nullopt;
    }
    return std::move(std::get<BlkRequest>(parsed));
}

void BlkBack::respond(std::uint64_t id, std::uint8_t operation, std::int16_t status) {
    blkif_response response{};
    response.id = id;
    response.operation = operation;
    response.status = status;
    ring_.push_response(response);
}

void BlkBack::publish() {
    // One notification for the whole batch, and only if the frontend waits for it.
    if (ring_.publish_responses()) {
        ++stats_.notifications;
        host_.notify_frontend();
    }
}

// ---- Synchronous engine ----

bool BlkBack::process_sync() {
    for (;;) {
        blkif_request raw;
        for (;;) {
            auto next = ring_.next(raw);
            if (next == Ring::Next::overflow) {
                static log::RateLimit limit;
                if (limit.allow())
                    DOMUS_LOG_WARN("blkback", "frontend ring index out of range; device stopped");
                broken_ = true;
                return false;
            }
            if (next == Ring::Next::empty) break;
            auto parsed = parse_or_refuse(raw);
            if (!parsed) continue;
            auto& request = *parsed;
            stats_.max_in_flight = std::max<std::uint64_t>(stats_.max_in_flight, 1);
            respond(request.id, request.operation, execute(request));
        }
        publish();
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
        case BlkRequest::Kind::write:
            break;
    }
    if (auto status = load_indirect_segments(request); status != BLKIF_RSP_OKAY) return status;
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
    if (auto status = map_segments(request, pages); status != BLKIF_RSP_OKAY) return status;
    std::uint64_t offset = request.sector * storage::kSectorSize;
    if (write) {
        std::size_t at = 0;
        for (std::size_t i = 0; i < pages.size(); ++i) {
            const auto& segment = request.segments[i];
            std::memcpy(bounce_.data() + at, pages[i]->bytes().data() + segment.offset,
                        segment.length);
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

// ---- Asynchronous engine ----
//
// A request moves through a slot: taken off the ring (parsed, grants mapped), waiting,
// then started (an fsync first for a flush; then one read or write straight between the
// file and a single granted page, or through the slot's bounce buffer for several, or
// per segment for large ones), then answered when its last operation is reaped. Ordering is kept
// here, not by io_uring flags: a barrier (flush, write with flush_before, discard) starts only when
// everything taken before it has finished, and nothing taken after it starts before it has finished
// (IOSQE_IO_DRAIN semantics).

bool BlkBack::serve_async() {
    reap();
    for (;;) {
        bool well_behaved = take_requests();
        start_waiting();
        submit();
        publish();
        if (!well_behaved) {
            broken_ = true;
            return false;
        }
        // Every slot in use: a completion wakes us before the ring needs watching again.
        if (free_slots_.empty()) return true;
        if (!ring_.more_after_final_check()) return true;
    }
}

bool BlkBack::take_requests() {
    blkif_request raw;
    while (!free_slots_.empty()) {
        auto next = ring_.next(raw);
        if (next == Ring::Next::overflow) {
            static log::RateLimit limit;
            if (limit.allow())
                DOMUS_LOG_WARN("blkback", "frontend ring index out of range; device stopped");
            return false;
        }
        if (next == Ring::Next::empty) return true;
        auto parsed = parse_or_refuse(raw);
        if (!parsed) continue;
        auto& request = *parsed;
        if (auto status = load_indirect_segments(request); status != BLKIF_RSP_OKAY) {
            respond(request.id, request.operation, status);
            continue;
        }
        take(std::move(request));
    }
    return true;
}

void BlkBack::take(BlkRequest request) {
    std::uint32_t slot = free_slots_.back();
    Slot& s = slots_[slot];
    s.request = std::move(request);
    s.ops = 0;
    s.failed = false;
    // The pages stay mapped until the request is answered: the kernel reads or writes
    // them directly.
    if (auto status = map_segments(s.request, s.pages); status != BLKIF_RSP_OKAY) {
        respond(s.request.id, s.request.operation, status);
        return;
    }
    free_slots_.pop_back();
    s.phase = Slot::Phase::waiting;
    waiting_.push_back(slot);
}

void BlkBack::start_waiting() {
    while (!waiting_.empty() && !barrier_running_) {
        std::uint32_t slot = waiting_.front();
        const BlkRequest& request = slots_[slot].request;
        if (is_barrier(request) && running_ > 0) return;  // drain first
        if (ops_ > 0 && ops_ + request.segments.size() > kMaxOps) return;
        waiting_.pop_front();
        start(slot);
    }
}

void BlkBack::start(std::uint32_t slot) {
    Slot& s = slots_[slot];
    const BlkRequest& request = s.request;
    if (request.kind == BlkRequest::Kind::discard) {
        // Synchronous, and alone: start_waiting() let it through only with nothing
        // running, and nothing else starts until it returns.
        std::uint64_t offset = request.sector * storage::kSectorSize;
        bool done = bool(image_.discard(offset, request.nr_sectors * storage::kSectorSize));
        if (!done) ++stats_.io_errors;
        respond(request.id, request.operation, done ? BLKIF_RSP_OKAY : BLKIF_RSP_ERROR);
        s.phase = Slot::Phase::free;
        free_slots_.push_back(slot);
        return;
    }
    ++running_;
    stats_.max_in_flight = std::max<std::uint64_t>(stats_.max_in_flight, running_);
    if (is_barrier(request)) {
        // fdatasync after everything before it (drained above); the data of a
        // flush_before write follows when it succeeds (finish()).
        barrier_running_ = true;
        s.phase = Slot::Phase::flushing;
        queue_op(slot, kFsyncOp, 0);
    } else {
        s.phase = Slot::Phase::transferring;
        queue_segments(slot);
    }
    if (s.ops == 0) finish(slot);  // nothing could be queued: answer now
}

void BlkBack::queue_segments(std::uint32_t slot) {
    Slot& s = slots_[slot];
    std::uint64_t offset = s.request.sector * storage::kSectorSize;
    std::uint64_t total = s.request.nr_sectors * storage::kSectorSize;
    s.bounced = s.request.segments.size() > 1 && total <= kMaxBounce;
    if (s.bounced) {
        s.bounce.resize(total);
        if (s.request.kind == BlkRequest::Kind::write) gather(s);
        queue_op(slot, kBounceOp, offset);
        return;
    }
    for (std::uint32_t i = 0; i < s.request.segments.size(); ++i) {
        if (!queue_op(slot, i, offset)) return;
        offset += s.request.segments[i].length;
    }
}

bool BlkBack::queue_op(std::uint32_t slot, std::uint32_t op, std::uint64_t offset) {
    Slot& s = slots_[slot];
    std::uint64_t tag = make_tag(slot, op);
    for (int attempt = 0; attempt < 2; ++attempt) {
        Result<void> queued = Error{};
        if (op == kFsyncOp) {
            queued = uring_->queue_fsync(fd_, true, tag);
        } else if (op == kBounceOp) {
            queued = s.request.kind == BlkRequest::Kind::write
                         ? uring_->queue_write(fd_, s.bounce, offset, tag)
                         : uring_->queue_read(fd_, s.bounce, offset, tag);
        } else {
            const BlkSegment& segment = s.request.segments[op];
            auto bytes = s.pages[op]->bytes().subspan(segment.offset, segment.length);
            queued = s.request.kind == BlkRequest::Kind::write
                         ? uring_->queue_write(fd_, bytes, offset, tag)
                         : uring_->queue_read(fd_, bytes, offset, tag);
        }
        if (queued) {
            ++s.ops;
            ++ops_;
            return true;
        }
        submit();  // the submission queue is full: hand it to the kernel, then retry once
    }
    s.failed = true;
    ++stats_.io_errors;
    static log::RateLimit limit;
    if (limit.allow()) DOMUS_LOG_WARN("blkback", "request {}: cannot queue I/O", s.request.id);
    return false;
}

void BlkBack::submit() {
    if (auto submitted = uring_->submit(); !submitted) {
        // What stays queued goes with the next submit (the next doorbell or completion).
        static log::RateLimit limit;
        if (limit.allow()) DOMUS_LOG_WARN("blkback", "{}", submitted.error().message);
    }
}

void BlkBack::reap() {
    while (auto done = uring_->try_reap())
        op_done(done->tag, done->result);
}

void BlkBack::op_done(std::uint64_t tag, std::int32_t result) {
    std::uint32_t slot = std::uint32_t(tag >> 32);
    std::uint32_t op = std::uint32_t(tag);
    Slot& s = slots_[slot];
    --s.ops;
    --ops_;
    if (result < 0) {
        s.failed = true;
        ++stats_.io_errors;
        static log::RateLimit limit;
        if (limit.allow())
            DOMUS_LOG_WARN("blkback", "request {}: {}", s.request.id,
                           errno_error(op == kFsyncOp ? "fdatasync" : "I/O", -result).message);
    } else if (op != kFsyncOp && std::uint32_t(result) < op_length(s, op)) {
        // Short transfer (a file that shrank, or the kernel stopped early): redo the
        // operation through the image, which loops and reads zeros past the file's end.
        std::uint64_t offset = s.request.sector * storage::kSectorSize;
        std::span<std::byte> bytes = s.bounce;
        if (op != kBounceOp) {
            const BlkSegment& segment = s.request.segments[op];
            for (std::uint32_t i = 0; i < op; ++i)
                offset += s.request.segments[i].length;
            bytes = s.pages[op]->bytes().subspan(segment.offset, segment.length);
        }
        bool done = s.request.kind == BlkRequest::Kind::write ? bool(image_.write(offset, bytes))
                                                              : bool(image_.read(offset, bytes));
        if (!done) {
            s.failed = true;
            ++stats_.io_errors;
        }
    }
    if (s.ops == 0) finish(slot);
}

void BlkBack::finish(std::uint32_t slot) {
    Slot& s = slots_[slot];
    const BlkRequest& request = s.request;
    if (s.phase == Slot::Phase::flushing && !s.failed && request.kind == BlkRequest::Kind::write) {
        // The flush of a flush_before write is durable: now its data (the caller submits).
        s.phase = Slot::Phase::transferring;
        queue_segments(slot);
        if (s.ops > 0) return;
    }
    if (!s.failed && s.bounced && request.kind == BlkRequest::Kind::read) scatter(s);
    if (!s.failed) {
        std::uint64_t bytes = request.nr_sectors * storage::kSectorSize;
        if (request.kind == BlkRequest::Kind::read) stats_.bytes_read += bytes;
        if (request.kind == BlkRequest::Kind::write) stats_.bytes_written += bytes;
    }
    if (is_barrier(request)) barrier_running_ = false;
    --running_;
    respond(request.id, request.operation, s.failed ? BLKIF_RSP_ERROR : BLKIF_RSP_OKAY);
    s.pages.clear();
    s.phase = Slot::Phase::free;
    free_slots_.push_back(slot);
}

std::uint32_t BlkBack::op_length(const Slot& s, std::uint32_t op) {
    return op == kBounceOp ? std::uint32_t(s.bounce.size()) : s.request.segments[op].length;
}

void BlkBack::gather(Slot& s) {
    std::size_t at = 0;
    for (std::size_t i = 0; i < s.pages.size(); ++i) {
        const auto& segment = s.request.segments[i];
        std::memcpy(s.bounce.data() + at, s.pages[i]->bytes().data() + segment.offset,
                    segment.length);
        at += segment.length;
    }
}

void BlkBack::scatter(Slot& s) {
    std::size_t at = 0;
    for (std::size_t i = 0; i < s.pages.size(); ++i) {
        const auto& segment = s.request.segments[i];
        std::memcpy(s.pages[i]->bytes().data() + segment.offset, s.bounce.data() + at,
                    segment.length);
        at += segment.length;
    }
}

void BlkBack::wait_for_all_io() noexcept {
    if (!uring_) return;
    // Only what was submitted runs; what is still queued dies with the ring unexecuted.
    while (uring_->in_flight() > 0) {
        if (auto done = uring_->wait(); !done) {
            // Never hand back a page the kernel may still write: keep the mappings.
            DOMUS_LOG_ERROR("blkback", "waiting for I/O: {}; grant mappings kept",
                            done.error().message);
            for (auto& slot : slots_)
                for (auto& page : slot.pages)
                    [[maybe_unused]] auto* leaked = page.release();
            return;
        }
    }
}

}  // namespace domus::backends
