// Reservation: the domain's populated RAM as memory_op changes it. It keeps the Physmap
// under a lock and frees the host memory of frames given back (a hole punched in the
// guest RAM memfd, one per contiguous run), so the host really gets the memory.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "base/result.hpp"

#include "monitor/guest_memory.hpp"
#include "monitor/physmap.hpp"

namespace domus::monitor {

class Reservation {
public:
    // `give_first`/`give_end`: guest-physical bounds of the RAM the guest may give back.
    Reservation(GuestMemory& memory, std::uint64_t give_first, std::uint64_t give_end);

    // Work through `frames` in order and stop at the first refused one; return how many
    // were done. Refusals (and failed hole punches) are counted.
    std::uint64_t decrease(std::span<const std::uint64_t> frames) noexcept {
        return change(frames, true);
    }
    std::uint64_t increase(std::span<const std::uint64_t> frames) noexcept {
        return change(frames, false);
    }

    // Every frame populated again and new bounds (a restored domain learns its image's
    // end from the saved start info only once its memory has arrived).
    void reset(std::uint64_t give_first, std::uint64_t give_end);

    std::uint64_t current_frames() const noexcept;
    std::uint64_t maximum_frames() const noexcept;
    // Refuses below the current reservation or above the RAM's size.
    bool set_maximum_frames(std::uint64_t frames) noexcept;
    // Migration: the populated bits (one per frame) for a save; on restore, the saved bits
    // and maximum taken back (Physmap::assign's checks) and the host memory of frames the
    // guest had given back freed again (its image may have carried some it touched).
    std::vector<std::uint64_t> populated_bits() const;
    Result<void> restore(std::span<const std::uint64_t> bits, std::uint64_t maximum_frames);
    std::uint64_t refusals() const noexcept { return refusals_.load(std::memory_order_relaxed); }
    // What the guest RAM costs the host now (the memfd's allocated blocks): includes
    // frames the guest touched after giving them back, which the Physmap cannot see.
    std::uint64_t host_bytes() const noexcept;

private:
    std::uint64_t change(std::span<const std::uint64_t> frames, bool give) noexcept;
    // Frees [first, first + count) frames on the host; false if the kernel refused.
    bool punch(std::uint64_t first, std::uint64_t count) noexcept;

    GuestMemory& memory_;
    mutable std::mutex mutex_;
    Physmap physmap_;
    std::atomic<std::uint64_t> refusals_{0};
};

}  // namespace domus::monitor
