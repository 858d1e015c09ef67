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
      bits_((total + 63) / 64, ~std::uint64_t(0)) {
    if (total % 64) bits_.back() = (std::uint64_t(1) << (total % 64)) - 1;  // none beyond
}

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

bool Physmap::assign(std::span<const std::uint64_t> bits, std::uint64_t maximum) noexcept {
    if (bits.size() != bits_.size()) return false;
    std::uint64_t current = 0;
    for (std::uint64_t frame = 0; frame < total_; ++frame) {
        bool in = bits[frame / 64] >> (frame % 64) & 1;
        if (!in && (frame < give_first_ || frame >= give_end_)) return false;
        current += in;
    }
    if (total_ % 64 && bits.back() >> (total_ % 64)) return false;
    if (maximum < current || maximum > total_) return false;
    std::copy(bits.begin(), bits.end(), bits_.begin());
    current_ = current;
    maximum_ = maximum;
    return true;
}

}  // namespace domus::monitor
