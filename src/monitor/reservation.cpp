// Reservation: memory_op's increase/decrease on the Physmap, with the host memory freed.
#include "monitor/reservation.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include "base/log.hpp"
#include "monitor/layout.hpp"

namespace domus::monitor {

Reservation::Reservation(GuestMemory& memory, std::uint64_t give_first, std::uint64_t give_end)
    : memory_(memory),
      physmap_(memory.size() / kPageSize, (give_first + kPageSize - 1) / kPageSize,
               give_end / kPageSize) {}

void Reservation::reset(std::uint64_t give_first, std::uint64_t give_end) {
    std::lock_guard lock(mutex_);
    physmap_ = Physmap(memory_.size() / kPageSize, (give_first + kPageSize - 1) / kPageSize,
                       give_end / kPageSize);
}

bool Reservation::punch(std::uint64_t first, std::uint64_t count) noexcept {
    // A hole in the memfd frees the pages and unmaps them from every mapping (KVM's
    // too); the frames read as zeros afterwards. MADV_DONTNEED would free nothing here.
    if (::fallocate(memory_.fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    off_t(first * kPageSize), off_t(count * kPageSize)) == 0)
        return true;
    DOMUS_LOG_WARN("vmm", "cannot free guest frames {:#x}+{}: errno {}", first, count, errno);
    return false;
}

std::uint64_t Reservation::change(std::span<const std::uint64_t> frames, bool give) noexcept {
    std::lock_guard lock(mutex_);
    auto apply = [&](std::uint64_t frame) {
        return give ? physmap_.release(frame) : physmap_.populate(frame);
    };
    auto undo = [&](std::uint64_t frame) {
        (void)(give ? physmap_.populate(frame) : physmap_.release(frame));
    };
    // Frames are punched a contiguous run at a time. Frames coming back are punched too:
    // one the guest touched while it was given back was filled again, and must come back
    // zeroed (for a hole, the punch costs nothing).
    std::uint64_t done = 0;
    std::uint64_t run_first = 0, run_count = 0;  // changed, not yet punched
    auto flush = [&] {
        bool ok = run_count == 0 || punch(run_first, run_count);
        if (!ok) {  // the host kept the memory: undo the run
            for (std::uint64_t i = 0; i < run_count; ++i)
                undo(run_first + i);
            done -= run_count;
        }
        run_count = 0;
        return ok;
    };
    for (std::uint64_t frame : frames) {
        if (apply(frame) != Physmap::Verdict::ok) {
            refusals_.fetch_add(1, std::memory_order_relaxed);
            break;
        }
        if (run_count && frame == run_first + run_count) {
            ++run_count;
        } else {
            if (!flush()) {
                undo(frame);
                return done;
            }
            run_first = frame;
            run_count = 1;
        }
        ++done;
    }
    flush();
    return done;
}

std::uint64_t Reservation::current_frames() const noexcept {
    std::lock_guard lock(mutex_);
    return physmap_.current();
}

std::uint64_t Reservation::maximum_frames() const noexcept {
    std::lock_guard lock(mutex_);
    return physmap_.maximum();
}

bool Reservation::set_maximum_frames(std::uint64_t frames) noexcept {
    std::lock_guard lock(mutex_);
    return physmap_.set_maximum(frames);
}

std::vector<std::uint64_t> Reservation::populated_bits() const {
    std::lock_guard lock(mutex_);
    return physmap_.bits();
}

Result<void> Reservation::restore(std::span<const std::uint64_t> bits,
                                  std::uint64_t maximum_frames) {
    std::lock_guard lock(mutex_);
    if (!physmap_.assign(bits, maximum_frames))
        return make_error(
            "the image's physmap does not fit this domain of {} frames (frames given back "
            "outside its heap, or a maximum of {} frames below what it holds)",
            physmap_.total(), maximum_frames);
    for (std::uint64_t frame = 0; frame < physmap_.total();) {
        if (physmap_.populated(frame)) {
            ++frame;
            continue;
        }
        std::uint64_t end = frame;
        while (end < physmap_.total() && !physmap_.populated(end))
            ++end;
        if (!punch(frame, end - frame))
            return make_error("cannot free the {} frames the guest gave back at {:#x}", end - frame,
                              frame);
        frame = end;
    }
    return {};
}

std::uint64_t Reservation::host_bytes() const noexcept {
    struct stat st {};
    if (::fstat(memory_.fd(), &st) < 0) return 0;
    return std::uint64_t(st.st_blocks) * 512;
}

}  // namespace domus::monitor
