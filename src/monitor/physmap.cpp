// Physmap: the per-frame record of the guest's populated RAM (see physmap.hpp).
#include "monitor/physmap.hpp"

#include <algorithm>

namespace domus::monitor {

Physmap::Physmap(std::uint64_t total, std::uint64_t give_first, std::uint64_t give_end)
    : total_(total),
      give_first_(std::min(give_first, total)),
      give_end_(std::clamp(give_end, give_first_, total)),
      current_(total),
      maximum_(total),
      bits_((total + 63) / 64, ~std::uint64_t(0)) {}

Physmap::Verdict Physmap::release(std::uint64_t frame) noexcept {
    if (frame < give_first_ || frame >= give_end_) return Verdict::out_of_range;
    if (!populated(frame)) return Verdict::not_populated;
    bits_[frame / 64] &= ~(std::uint64_t(1) << (frame % 64));
    --current_;
    return Verdict::ok;
}

Physmap::Verdict Physmap::populate(std::uint64_t frame) noexcept {
    if (frame < give_first_ || frame >= give_end_) return Verdict::out_of_range;
    if (populated(frame)) return Verdict::already_populated;
    if (current_ >= maximum_) return Verdict::over_maximum;
    bits_[frame / 64] |= std::uint64_t(1) << (frame % 64);
    ++current_;
    return Verdict::ok;
}

bool Physmap::set_maximum(std::uint64_t frames) noexcept {
    if (frames < current_ || frames > total_) return false;
    maximum_ = frames;
    return true;
}

}  // namespace domus::monitor
