// BlkBack: the block backend's request engine. It takes requests from the shared ring
// (copied, then parsed by blk_request), moves data between granted pages and the disk
// image, and answers on the ring; a bad request gets an error response and the device
// keeps working. The caller owns the thread, calls process() when the frontend rang
// (or after start-up) and complete() when completion_fd() is readable.
//
// Two engines behind the same calls. Images with a direct_fd() (raw) take the fast
// path (blkback_uring.cpp): the data moves straight between the file and the granted
// pages (vectored I/O over the mapped grants, no bounce copy), inline with
// preadv2/pwritev2(RWF_NOWAIT) when the page cache can serve it at once and through
// io_uring when it cannot, many requests in flight, answered as they complete (O_DIRECT
// images: always through io_uring, and a request not aligned for O_DIRECT through the
// image's bounce buffer). qcow2 images take the same path through host_extents(): a
// request over allocated clusters moves as one vectored transfer per run of clusters
// lying back to back in the file (or the backing file's), zero clusters are filled in
// place, and only what changes metadata (an allocating write) or a flush is done by the
// image itself, inline. Without io_uring every request is served synchronously inside
// process(), one after the other. Both engines keep a rate limit (bytes and requests a
// second): a request over it is taken off the ring and held, unanswered, until the
// limit's buckets have room; the caller calls process() again after held_for().
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include <sys/uio.h>

#include "backends/backend_host.hpp"
#include "backends/block/blk_request.hpp"
#include "backends/block/persistent_grants.hpp"
#include "backends/rate_limiter.hpp"
#include "backends/shared_ring.hpp"
#include "storage/block_image.hpp"
#include "storage/uring_queue.hpp"

namespace domus::backends {

struct BlkStats {
    std::uint64_t requests = 0;
    std::uint64_t bad_requests = 0;  // parse or grant failures (each answered with an error)
    std::uint64_t io_errors = 0;
    std::uint64_t reads = 0;   // read requests done (xentop's VBD_RD)
    std::uint64_t writes = 0;  // write requests done (VBD_WR)
    std::uint64_t bytes_read = 0;
    std::uint64_t bytes_written = 0;
    std::uint64_t notifications = 0;  // frontend notifications we sent
    std::uint64_t max_in_flight = 0;  // most requests started and not yet answered at once
    // Where the time goes (fast path): how often we were woken to look at the ring, how
    // many requests the short poll before sleeping found, and how data moved.
    std::uint64_t passes = 0;            // process() calls: doorbells (and start-up)
    std::uint64_t polled_requests = 0;   // taken while polling, without a doorbell
    std::uint64_t inline_transfers = 0;  // finished by preadv2/pwritev2 in the pass
    std::uint64_t queued_transfers = 0;  // went (wholly or the rest) through io_uring
    // Not aligned as an O_DIRECT image needs: done by the image through a bounce buffer.
    std::uint64_t unaligned_transfers = 0;
    // Moved by the image's own code because their clusters are not yet there to write
    // into (qcow2: allocating, copy-on-write), inline in the pass.
    std::uint64_t image_transfers = 0;
    // The backend's CPU time per stage of a request, in TSC cycles (CycleClock): taking
    // it off the ring (copy, parse, indirect segments, grant maps), moving its data (the
    // system call, or queueing it), and answering it (grant release, response, publish).
    std::uint64_t take_cycles = 0;
    std::uint64_t io_cycles = 0;
    std::uint64_t respond_cycles = 0;
    std::uint64_t notify_cycles = 0;      // the doorbells to the frontend (inside respond)
    std::uint64_t persistent_grants = 0;  // grants kept mapped (feature-persistent)
    std::uint64_t rate_held = 0;          // requests that waited for the rate limit
};

// Totals over a device's successive BlkBacks (reconnects, image swaps).
inline BlkStats combine(const BlkStats& a, const BlkStats& b) {
    BlkStats sum = a;
    sum.requests += b.requests;
    sum.bad_requests += b.bad_requests;
    sum.io_errors += b.io_errors;
    sum.reads += b.reads;
    sum.writes += b.writes;
    sum.bytes_read += b.bytes_read;
    sum.bytes_written += b.bytes_written;
    sum.notifications += b.notifications;
    sum.max_in_flight = std::max(a.max_in_flight, b.max_in_flight);
    sum.passes += b.passes;
    sum.polled_requests += b.polled_requests;
    sum.inline_transfers += b.inline_transfers;
    sum.queued_transfers += b.queued_transfers;
    sum.unaligned_transfers += b.unaligned_transfers;
    sum.image_transfers += b.image_transfers;
    sum.take_cycles += b.take_cycles;
    sum.io_cycles += b.io_cycles;
    sum.respond_cycles += b.respond_cycles;
    sum.notify_cycles += b.notify_cycles;
    sum.persistent_grants = std::max(a.persistent_grants, b.persistent_grants);
    sum.rate_held += b.rate_held;
    return sum;
}

class BlkBack {
public:
    using Ring = BackendRing<blkif_sring_entry, blkif_request, blkif_response>;

    // Most requests taken off the ring and not yet answered (the ring's own size bounds
    // it further), and most io_uring operations (one per segment, or an fsync) at once.
    static constexpr std::size_t kMaxInFlight = 64;
    static constexpr unsigned kMaxOps = 512;
    // Before arming req_event and sleeping, the fast path watches the ring this long for
    // the frontend's next request: one that keeps requests in flight sends it within
    // microseconds, and finding it here saves the frontend a doorbell and us a wakeup
    // (each costs several microseconds on the nested host, DESIGN.md). Only after a pass
    // that took requests, so an idle frontend costs nothing.
    static constexpr std::uint64_t kPollNs = 50'000;

    // `ring` maps the frontend's ring page (kept mapped by the caller). Falls back to
    // synchronous I/O when the image has no direct fd or io_uring is unavailable.
    // `resume`: the ring is live and the previous BlkBack on it was drained (idle()), as
    // when a snapshot swaps the image under a connected frontend.
    BlkBack(DataPathHost& host, storage::BlockImage& image, std::span<std::byte> ring,
            DiskLimits limits, bool resume = false);
    // Waits for every I/O in flight before the grant mappings are released: the kernel
    // never writes into a page the frontend got back.
    ~BlkBack();
    BlkBack(const BlkBack&) = delete;
    BlkBack& operator=(const BlkBack&) = delete;

    // How the fast path behaves; the defaults are what the monitor uses. Tests turn the
    // inline attempt and the poll off to watch requests in flight in io_uring.
    struct Tuning {
        bool inline_io = true;
        std::uint64_t poll_ns = kPollNs;
    };
    void set_tuning(const Tuning& tuning) noexcept { tuning_ = tuning; }
    // The frontend negotiated feature-persistent: its grants stay mapped from their first
    // use until this object goes (persistent_grants.hpp).
    void use_persistent_grants() { persistent_.emplace(host_); }
    std::size_t persistent_grants() const noexcept { return persistent_ ? persistent_->size() : 0; }

    // Takes every request available (as many as there are free slots) and starts it, or
    // with the synchronous engine serves it. False when the frontend broke the ring
    // protocol: stop serving it (then destroy this object).
    bool process() noexcept;
    // Reaps finished I/O without blocking, answers the requests it finishes (one
    // notification per batch) and starts what was waiting. Same result as process().
    bool complete() noexcept;

    // Readable when I/O completed (call complete()); -1 with the synchronous engine.
    int completion_fd() const noexcept { return uring_ ? uring_->event_fd() : -1; }
    bool asynchronous() const noexcept { return uring_.has_value(); }
    // While held, no new request is taken off the ring (those on it wait there), so that
    // draining ends even while the frontend keeps submitting; process() after release.
    void hold(bool held) noexcept { held_ = held; }
    // Requests taken off the ring and not yet answered: started, and waiting to start
    // (behind a flush, or for io_uring room).
    std::size_t requests_started() const noexcept { return running_; }
    std::size_t requests_waiting() const noexcept { return waiting_.size(); }
    // Nothing taken off the ring is unanswered: the ring can be handed over (resume).
    bool idle() const noexcept { return running_ == 0 && waiting_.empty(); }
    const BlkStats& stats() const noexcept { return stats_; }

    // The guest's rate limit (bytes of reads and writes, and requests); unlimited by
    // default. A new one applies to the request held now too.
    void set_limit(RateLimiter limit) { limit_ = limit; }
    // How long until the request held by the limit may go; none when none waits.
    std::optional<std::chrono::nanoseconds> held_for(RateClock::time_point now);
    // The clock the limit reads (a fake one in tests).
    void set_clock(std::function<RateClock::time_point()> clock) { clock_ = std::move(clock); }

private:
    // One request taken off the ring, from parsing to its response.
    struct Slot {
        enum class Phase { free, waiting, flushing, transferring } phase = Phase::free;
        BlkRequest request;
        // One per segment: the persistent grants' pages, or the request's own mappings in
        // `pages`, kept until answered (then released: the object is reused).
        std::vector<std::span<std::byte>> data;
        std::unique_ptr<MappedPages> pages;
        // The data still to move: pieces of the mapped pages and the file offset of the
        // first. io_uring reads this array when it runs the operation, so it lives in the
        // slot until the completion is reaped (capacity kept between requests).
        std::vector<iovec> pieces;
        std::uint64_t offset = 0;
        // Images without a direct fd (qcow2): where the data lies, and the pieces of each
        // extent (extent i's are extent_pieces[first_piece[i] .. first_piece[i + 1])).
        std::vector<storage::HostExtent> extents;
        std::vector<iovec> extent_pieces;
        std::vector<std::uint32_t> first_piece;
        std::uint32_t ops = 0;  // io_uring operations submitted and not reaped
        bool failed = false;
        // An extent's operation came back short or not done: once every operation is
        // reaped, the image moves the whole request again (the same bytes twice is harmless).
        bool redo = false;
    };

    // Synchronous engine.
    bool process_sync();
    std::int16_t execute(BlkRequest& request);
    std::int16_t transfer(const BlkRequest& request);
    // Both engines.
    std::int16_t load_indirect_segments(BlkRequest& request);
    // The request's data pages into `data`: persistent grants where the frontend uses
    // them, otherwise all of them mapped for this request in `pages`.
    std::int16_t map_segments(const BlkRequest& request, std::unique_ptr<MappedPages>& pages,
                              std::vector<std::span<std::byte>>& data);
    // Counts and parses one copied request; a bad one is answered here (nothing returned).
    std::optional<BlkRequest> parse_or_refuse(const blkif_request& raw);
    // Counts and logs (rate-limited) a request the frontend got wrong (`why`): the error
    // response.
    std::int16_t bad_request(std::uint64_t id, std::string_view why);
    // Counts and logs (rate-limited) an image error of request `id`: the error response.
    std::int16_t io_error(std::uint64_t id, const Error& error);
    void respond(std::uint64_t id, std::uint8_t operation, std::int16_t status);
    void publish();
    // Asynchronous engine (blkback_uring.cpp).
    bool serve_async();
    // Requests taken (each started or waiting), or nothing if the ring is broken.
    std::optional<std::size_t> take_requests();
    void take(BlkRequest request);
    bool poll_ring(std::size_t& taken);
    void start_waiting();
    void start(std::uint32_t slot);
    void start_transfer(std::uint32_t slot);
    void start_extents(std::uint32_t slot);
    void transfer_through_image(Slot& s);
    bool transfer_inline(Slot& s);
    // One try to move all of `pieces` at `offset` of `fd` without waiting: the bytes moved
    // (possibly fewer), or -1 when it could not start (io_uring then takes it).
    ssize_t move_inline(int fd, std::span<const iovec> pieces, std::uint64_t offset, bool write);
    bool aligned(const Slot& s) const;
    bool queue_op(std::uint32_t slot, std::uint32_t op, int fd, std::span<const iovec> pieces,
                  std::uint64_t offset);
    void extent_done(Slot& s, std::uint32_t extent, std::int32_t result);
    void submit();
    std::size_t reap();
    void op_done(std::uint64_t tag, std::int32_t result);
    bool finish_through_image(Slot& s);
    void granted_pieces(Slot& s);  // s.pieces = every granted segment, in request order
    void finish(std::uint32_t slot);
    void wait_for_all_io() noexcept;
    // Whether the limit lets `request` go now (its tokens taken); if not, the caller
    // holds it in rate_held_ and takes nothing more off the ring.
    bool admit(const BlkRequest& request);
    // The next request to start, for both engines, in ring order: first the one the limit
    // held, then the ring's (parsed; a bad one answered and skipped). `held`: the limit
    // holds it (in rate_held_); `empty`: the ring has none; `broken`: its index is out of
    // range (logged). `taken` counts the requests it took (off the ring or out of hold).
    enum class NextRequest { request, held, empty, broken };
    NextRequest next_request(std::optional<BlkRequest>& out, std::size_t& taken);

    DataPathHost& host_;
    storage::BlockImage& image_;
    Ring ring_;
    DiskLimits limits_;
    BlkStats stats_;
    std::vector<iovec> pieces_;                // synchronous engine: one request's granted memory
    std::unique_ptr<MappedPages> sync_pages_;  // synchronous engine: that request's grants
    std::vector<std::span<std::byte>> sync_data_;  // synchronous engine: its data pages
    // Scratch of both engines, kept to reuse its capacity: the grant refs being mapped,
    // and the segment lists copied out of indirect pages.
    std::vector<grant_ref_t> refs_;
    std::unique_ptr<MappedPages> indirect_pages_;
    std::vector<blkif_request_segment> indirect_segments_;
    std::optional<PersistentGrants> persistent_;  // set: feature-persistent negotiated

    std::optional<storage::UringQueue> uring_;  // set: the asynchronous engine
    int fd_ = -1;                               // image_.direct_fd(); -1: host_extents()
    std::size_t alignment_;                     // image_.direct_alignment()
    bool uncached_;                             // image_.direct_uncached(): no inline tries
    std::vector<Slot> slots_;
    std::vector<std::uint32_t> free_slots_;
    std::deque<std::uint32_t> waiting_;  // taken, not started, in ring order
    std::size_t running_ = 0;            // slots flushing or transferring
    unsigned ops_ = 0;                   // io_uring operations queued and not reaped
    bool barrier_running_ = false;       // a flush (or discard) runs: nothing else starts
    bool broken_ = false;                // the frontend broke the ring protocol
    bool held_ = false;                  // hold(): take nothing off the ring
    RateLimiter limit_;
    std::optional<BlkRequest> rate_held_;  // taken, waiting for the limit's tokens
    std::function<RateClock::time_point()> clock_ = [] { return RateClock::now(); };
    unsigned unpublished_ = 0;  // responses pushed since the last publish
    Tuning tuning_;
    // The file system answers RWF_NOWAIT with EOPNOTSUPP (ext4 does for buffered
    // writes): reads then always go through io_uring; writes are done inline with a
    // plain pwritev, because io_uring hands every such write to a worker thread, which
    // costs more than the write (a page-cache copy) itself. A write that blocks (dirty
    // throttling) holds up this one device's ring meanwhile, as it would the worker.
    bool nowait_reads_ = true;
    bool nowait_writes_ = true;
};

}  // namespace domus::backends
