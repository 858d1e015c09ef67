// BlkBack's asynchronous engine: vectored I/O straight between the file (raw) or the
// image's host extents (qcow2) and the mapped grants, inline when the page cache can
// serve it, through io_uring when it cannot; ordering of barriers; polling before
// sleeping.
//
// A request moves through a slot: taken off the ring (parsed, grants mapped), waiting,
// then started (an fsync first for a flush; then its data as one vectored transfer over
// the granted pages), then answered when its last operation has finished. The data of a
// start is first tried with preadv2/pwritev2(RWF_NOWAIT): a page-cache hit finishes in
// that one system call and is answered in the same pass, without an io_uring round trip
// (submit, completion eventfd, poll wakeup, reap). What the kernel cannot do without
// waiting (or the rest of a partial transfer) goes to io_uring as one readv/writev.
//
// Ordering is kept here, not by io_uring flags: a barrier (flush, write with
// flush_before, discard) starts only when everything taken before it has finished, and
// nothing taken after it starts before it has finished (IOSQE_IO_DRAIN semantics).
// Grants stay mapped until the request is answered, and the destructor waits for every
// operation in flight, so the kernel never writes into a page the frontend got back.
#include <fcntl.h>
#include <sys/uio.h>

#include <climits>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>

#include "backends/block/blkback.hpp"
#include "base/cycle_clock.hpp"
#include "base/log.hpp"
#include "storage/io_vector.hpp"

namespace domus::backends {
namespace {

// The io_uring tag of an operation: the slot in the high half, the operation in the low.
constexpr std::uint32_t kDataOp = 0;  // the request's data: one readv or writev
constexpr std::uint32_t kFsyncOp = 1;
constexpr std::uint32_t kFirstExtentOp = 2;  // + i: host extent i of the request's data

std::uint64_t make_tag(std::uint32_t slot, std::uint32_t op) {
    return (std::uint64_t(slot) << 32) | op;
}

bool is_barrier(const BlkRequest& request) {
    return request.kind == BlkRequest::Kind::flush || request.kind == BlkRequest::Kind::discard ||
           request.flush_before;
}

bool is_write(const BlkRequest& request) {
    return request.kind == BlkRequest::Kind::write;
}

std::uint64_t now_ns() {
    return std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count());
}

}  // namespace

bool BlkBack::serve_async() {
    reap();
    bool active = false;  // this call took requests: the frontend is busy, worth a poll
    for (;;) {
        auto taken = take_requests();
        start_waiting();
        submit();
        publish();
        if (!taken) {
            broken_ = true;
            return false;
        }
        // Held by the rate limit: the caller comes back after held_for(), not the ring.
        if (rate_held_) return true;
        if (*taken > 0) {
            active = true;
            continue;  // more may have come meanwhile; the next take finds out cheaply
        }
        // Every slot in use: a completion wakes us before the ring needs watching again.
        if (free_slots_.empty()) return true;
        if (active && tuning_.poll_ns > 0) {
            std::size_t polled = 0;
            if (!poll_ring(polled)) {
                broken_ = true;
                return false;
            }
            if (polled > 0) continue;
            active = false;
        }
        if (!ring_.more_after_final_check()) return true;
    }
}

bool BlkBack::poll_ring(std::size_t& taken) {
    std::uint64_t deadline = now_ns() + tuning_.poll_ns;
    do {
        // Completions that came in are answered while we wait (no eventfd round trip).
        if (reap() > 0) {
            start_waiting();
            submit();
            publish();
        }
        auto got = take_requests();
        if (!got) return false;
        if (rate_held_) return true;  // nothing more goes until the limit allows
        if (*got > 0) {
            taken = *got;
            stats_.polled_requests += *got;
            return true;
        }
        __builtin_ia32_pause();
    } while (now_ns() < deadline);
    return true;
}

std::optional<std::size_t> BlkBack::take_requests() {
    std::size_t taken = 0;
    while (!free_slots_.empty() && !held_) {
        std::optional<BlkRequest> request;
        auto next = next_request(request, taken);
        if (next == NextRequest::broken) return std::nullopt;
        if (next != NextRequest::request) break;
        {
            StageTimer timer(stats_.take_cycles);
            take(std::move(*request));
        }
        // Start at once what may start: an inline transfer is answered right here and
        // published at once (a store and a fence), so a frontend that polls reuses the
        // slot while we go on with the rest; it is notified only if it sleeps.
        start_waiting();
        publish();
    }
    return taken;
}

void BlkBack::take(BlkRequest request) {
    std::uint32_t slot = free_slots_.back();
    Slot& s = slots_[slot];
    s.request = std::move(request);
    s.ops = 0;
    s.failed = false;
    s.redo = false;
    // The pages stay mapped until the request is answered: the kernel reads or writes
    // them directly.
    if (auto status = map_segments(s.request, s.pages, s.data); status != BLKIF_RSP_OKAY) {
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
        if (ops_ >= kMaxOps) return;                      // one operation per start at most
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
        auto discarded = image_.discard(offset, request.nr_sectors * storage::kSectorSize);
        respond(request.id, request.operation,
                discarded ? BLKIF_RSP_OKAY : io_error(request.id, discarded.error()));
        if (s.pages) s.pages->release();
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
        if (fd_ >= 0) {
            queue_op(slot, kFsyncOp, fd_, {}, 0);
        } else if (auto flushed = image_.flush(); !flushed) {
            // qcow2: its metadata goes out in order first (several syncs): done inline.
            s.failed = true;
            io_error(s.request.id, flushed.error());
        }
    } else {
        start_transfer(slot);
    }
    if (s.ops == 0) finish(slot);  // done inline, or nothing could be queued: answer now
}

void BlkBack::start_transfer(std::uint32_t slot) {
    Slot& s = slots_[slot];
    s.phase = Slot::Phase::transferring;
    s.offset = s.request.sector * storage::kSectorSize;
    granted_pieces(s);
    if (s.pieces.empty()) return;
    if (fd_ < 0) return start_extents(slot);
    if (transfer_inline(s)) return;
    if (!aligned(s)) {
        // O_DIRECT cannot take these pages (a segment at a sector offset in its page):
        // the image moves them through its aligned bounce buffer, here and now.
        ++stats_.unaligned_transfers;
        return transfer_through_image(s);
    }
    ++stats_.queued_transfers;
    queue_op(slot, kDataOp, fd_, s.pieces, s.offset);
}

void BlkBack::start_extents(std::uint32_t slot) {
    Slot& s = slots_[slot];
    bool write = is_write(s.request);
    s.extents.clear();
    Result<bool> mapped = false;
    {
        StageTimer timer(stats_.io_cycles);
        mapped = image_.host_extents(s.offset, storage::io_bytes(s.pieces), write, s.extents);
    }
    if (!mapped || !*mapped || ops_ + s.extents.size() > kMaxOps) {
        // Clusters to allocate (or an error the image reports with its own words).
        ++stats_.image_transfers;
        return transfer_through_image(s);
    }
    // Every extent's pieces first: io_uring reads them, so the arrays must not move later.
    s.extent_pieces.clear();
    s.first_piece.clear();
    storage::IoCursor cursor(s.pieces);
    for (const auto& extent : s.extents) {
        s.first_piece.push_back(std::uint32_t(s.extent_pieces.size()));
        cursor.take(std::size_t(extent.length), s.extent_pieces);
    }
    s.first_piece.push_back(std::uint32_t(s.extent_pieces.size()));
    bool queued = false;
    for (std::uint32_t i = 0; i < s.extents.size(); ++i) {
        const auto& extent = s.extents[i];
        std::span<const iovec> pieces(s.extent_pieces.data() + s.first_piece[i],
                                      s.first_piece[i + 1] - s.first_piece[i]);
        if (extent.fd < 0) {
            storage::io_zero(pieces);  // a zero cluster, or past the backing file's end
            continue;
        }
        // A partial inline move is simply done again by io_uring, whole.
        if (tuning_.inline_io &&
            move_inline(extent.fd, pieces, extent.offset, write) == ssize_t(extent.length))
            continue;
        queued = true;
        queue_op(slot, kFirstExtentOp + i, extent.fd, pieces, extent.offset);
    }
    if (queued)
        ++stats_.queued_transfers;
    else
        ++stats_.inline_transfers;
    s.pieces.clear();
}

void BlkBack::transfer_through_image(Slot& s) {
    StageTimer timer(stats_.io_cycles);
    auto done =
        is_write(s.request) ? image_.writev(s.offset, s.pieces) : image_.readv(s.offset, s.pieces);
    if (!done) {
        s.failed = true;
        io_error(s.request.id, done.error());
    }
    s.pieces.clear();
}

bool BlkBack::aligned(const Slot& s) const {
    if (alignment_ <= storage::kSectorSize) return true;  // what every request already is
    if (s.offset % alignment_ != 0) return false;
    for (const iovec& piece : s.pieces)
        if (reinterpret_cast<std::uintptr_t>(piece.iov_base) % alignment_ != 0 ||
            piece.iov_len % alignment_ != 0)
            return false;
    return true;
}

bool BlkBack::transfer_inline(Slot& s) {
    if (!tuning_.inline_io || uncached_) return false;
    ssize_t moved = move_inline(fd_, s.pieces, s.offset, is_write(s.request));
    if (moved < 0) return false;
    // A short transfer (part cached, or the end of a file that shrank) leaves the rest
    // to io_uring, which blocks where we must not and reports the end of the file.
    s.offset += std::uint64_t(moved);
    storage::io_advance(s.pieces, std::size_t(moved));
    if (!s.pieces.empty()) return false;
    ++stats_.inline_transfers;
    return true;
}

ssize_t BlkBack::move_inline(int fd, std::span<const iovec> pieces, std::uint64_t offset,
                             bool write) {
    if (!write && !nowait_reads_) return -1;
    // Fewer pieces than IOV_MAX: parse_blk_request bounds the segments of a request.
    static_assert(kMaxIndirectSegments <= IOV_MAX);
    StageTimer timer(stats_.io_cycles);
    int count = int(pieces.size());
    ssize_t moved;
    if (write && !nowait_writes_) {
        moved = ::pwritev(fd, pieces.data(), count, off_t(offset));
    } else if (write) {
        moved = ::pwritev2(fd, pieces.data(), count, off_t(offset), RWF_NOWAIT);
    } else {
        moved = ::preadv2(fd, pieces.data(), count, off_t(offset), RWF_NOWAIT);
    }
    if (moved < 0 && errno == EOPNOTSUPP && (write ? nowait_writes_ : nowait_reads_)) {
        // This file system cannot promise not to wait; see nowait_*_ for the choice.
        (write ? nowait_writes_ : nowait_reads_) = false;
        return write ? move_inline(fd, pieces, offset, write) : -1;
    }
    // EAGAIN (not in the page cache, or the write would wait), EINTR, or a real error
    // that io_uring reports in its completion: either way io_uring takes it.
    return moved;
}

bool BlkBack::queue_op(std::uint32_t slot, std::uint32_t op, int fd, std::span<const iovec> pieces,
                       std::uint64_t offset) {
    StageTimer timer(stats_.io_cycles);
    Slot& s = slots_[slot];
    std::uint64_t tag = make_tag(slot, op);
    for (int attempt = 0; attempt < 2; ++attempt) {
        Result<void> queued = Error{};
        if (op == kFsyncOp) {
            queued = uring_->queue_fsync(fd, true, tag);
        } else {
            queued = is_write(s.request) ? uring_->queue_writev(fd, pieces, offset, tag)
                                         : uring_->queue_readv(fd, pieces, offset, tag);
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
    StageTimer timer(stats_.io_cycles);
    if (auto submitted = uring_->submit(); !submitted) {
        // What stays queued goes with the next submit (the next doorbell or completion).
        static log::RateLimit limit;
        if (limit.allow()) DOMUS_LOG_WARN("blkback", "{}", submitted.error().message);
    }
}

std::size_t BlkBack::reap() {
    std::size_t count = 0;
    for (; auto done = uring_->try_reap(); ++count)
        op_done(done->tag, done->result);
    return count;
}

void BlkBack::op_done(std::uint64_t tag, std::int32_t result) {
    std::uint32_t slot = std::uint32_t(tag >> 32);
    std::uint32_t op = std::uint32_t(tag);
    Slot& s = slots_[slot];
    --s.ops;
    --ops_;
    if (op >= kFirstExtentOp) {
        extent_done(s, op - kFirstExtentOp, result);
        if (s.ops > 0) return;
        if (s.redo && !s.failed) {
            s.redo = false;
            s.offset = s.request.sector * storage::kSectorSize;
            if (!finish_through_image(s)) {
                s.failed = true;
                io_error(s.request.id, make_error("moving a request the kernel left unfinished"));
            }
        }
        return finish(slot);
    }
    if (result == -EAGAIN || result == -EINTR) {
        // Not done, but not an I/O error either: the kernel may do it when asked again.
        // Finished here, synchronously, as the rest of a short transfer is.
        bool done = op == kFsyncOp ? bool(image_.flush()) : finish_through_image(s);
        if (!done) {
            s.failed = true;
            io_error(s.request.id, make_error("{} after {}", op == kFsyncOp ? "fdatasync" : "I/O",
                                              errno_error("io_uring", -result).message));
        }
    } else if (result < 0) {
        s.failed = true;
        io_error(s.request.id, errno_error(op == kFsyncOp ? "fdatasync" : "I/O", -result));
    } else if (op == kDataOp) {
        s.offset += std::uint64_t(result);
        storage::io_advance(s.pieces, std::size_t(result));
        // Short transfer (a file that shrank, or the kernel stopped early): the image
        // finishes it, looping, and reads zeros past the file's end.
        if (!s.pieces.empty() && !finish_through_image(s)) {
            s.failed = true;
            io_error(s.request.id, make_error("finishing a short transfer failed"));
        }
    }
    if (s.ops == 0) finish(slot);
}

void BlkBack::extent_done(Slot& s, std::uint32_t extent, std::int32_t result) {
    if (result == -EAGAIN || result == -EINTR ||
        (result >= 0 && std::uint64_t(result) != s.extents[extent].length)) {
        s.redo = true;  // not an I/O error: asked again (by the image), it may work
    } else if (result < 0) {
        s.failed = true;
        io_error(s.request.id, errno_error("I/O", -result));
    }
}

bool BlkBack::finish_through_image(Slot& s) {
    // The kernel may stop anywhere, even inside a sector, but the image moves whole
    // sectors: go back to the start of the sector the transfer stopped in and move the
    // rest from there. Moving the same bytes twice is harmless, for reads and writes.
    std::uint64_t start = s.request.sector * storage::kSectorSize;
    std::uint64_t done = (s.offset - start) / storage::kSectorSize * storage::kSectorSize;
    granted_pieces(s);
    storage::io_advance(s.pieces, std::size_t(done));
    s.offset = start + done;
    bool moved = is_write(s.request) ? bool(image_.writev(s.offset, s.pieces))
                                     : bool(image_.readv(s.offset, s.pieces));
    s.pieces.clear();
    return moved;
}

void BlkBack::granted_pieces(Slot& s) {
    s.pieces.clear();
    for (std::size_t i = 0; i < s.request.segments.size(); ++i) {
        const BlkSegment& segment = s.request.segments[i];
        auto bytes = s.data[i].subspan(segment.offset, segment.length);
        storage::io_append(s.pieces, bytes.data(), bytes.size());
    }
}

void BlkBack::finish(std::uint32_t slot) {
    Slot& s = slots_[slot];
    const BlkRequest& request = s.request;
    if (s.phase == Slot::Phase::flushing && !s.failed && is_write(request)) {
        // The flush of a flush_before write is durable: now its data (the caller submits).
        start_transfer(slot);
        if (s.ops > 0) return;
    }
    if (!s.failed) {
        std::uint64_t bytes = request.nr_sectors * storage::kSectorSize;
        if (request.kind == BlkRequest::Kind::read) {
            stats_.bytes_read += bytes;
            ++stats_.reads;
        }
        if (request.kind == BlkRequest::Kind::write) {
            stats_.bytes_written += bytes;
            ++stats_.writes;
        }
    }
    if (is_barrier(request)) barrier_running_ = false;
    --running_;
    StageTimer timer(stats_.respond_cycles);
    // The pages are released before the response is published (publish() comes after
    // this in every pass): a frontend that sees the answer can revoke its grants at once.
    if (s.pages) s.pages->release();
    s.pieces.clear();
    respond(request.id, request.operation, s.failed ? BLKIF_RSP_ERROR : BLKIF_RSP_OKAY);
    s.phase = Slot::Phase::free;
    free_slots_.push_back(slot);
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
                [[maybe_unused]] auto* leaked = slot.pages.release();
            return;
        }
    }
}

}  // namespace domus::backends
