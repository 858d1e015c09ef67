// Physmap: which 4 KiB frames of the guest's RAM hold host memory (one bit per frame),
// which of them the guest may give back, and the most it may hold (maxmem). No locks.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace domus::monitor {

class Physmap {
public:
    enum class Verdict { ok, out_of_range, not_populated, already_populated, over_maximum };

    // All `total` frames start populated; the guest may give back [give_first, give_end)
    // (free memory between its image and the monitor area); the maximum starts at `total`.
    Physmap(std::uint64_t total, std::uint64_t give_first, std::uint64_t give_end);

    // One frame out (ballooning up) or back in. A refusal changes nothing.
    Verdict release(std::uint64_t frame) noexcept;
    Verdict populate(std::uint64_t frame) noexcept;

    bool populated(std::uint64_t frame) const noexcept {
        return frame < total_ && (bits_[frame / 64] >> (frame % 64) & 1);
    }
    std::uint64_t total() const noexcept { return total_; }
    std::uint64_t current() const noexcept { return current_; }
    std::uint64_t maximum() const noexcept { return maximum_; }
    // xl's rule: not below what the guest holds now; the RAM's size is the ceiling.
    bool set_maximum(std::uint64_t frames) noexcept;

    // The populated bits (bit f % 64 of word f / 64), for a save.
    const std::vector<std::uint64_t>& bits() const noexcept { return bits_; }
    // A restore: the saved bits and maximum instead of "all populated". Refused (nothing
    // changed) unless `bits` has one word per 64 frames, every frame outside the range
    // the guest may give back is populated, and the maximum holds what is populated.
    bool assign(std::span<const std::uint64_t> bits, std::uint64_t maximum) noexcept;

private:
    std::uint64_t total_;
    std::uint64_t give_first_;
    std::uint64_t give_end_;
    std::uint64_t current_;
    std::uint64_t maximum_;
    std::vector<std::uint64_t> bits_;
};

}  // namespace domus::monitor
