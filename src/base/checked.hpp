// Overflow-checked arithmetic and range tests for guest-supplied numbers.
#pragma once

#include <cstdint>
#include <optional>

namespace domus {

inline std::optional<std::uint64_t> checked_add(std::uint64_t a, std::uint64_t b) noexcept {
    std::uint64_t r;
    if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
    return r;
}

inline std::optional<std::uint64_t> checked_mul(std::uint64_t a, std::uint64_t b) noexcept {
    std::uint64_t r;
    if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
    return r;
}

// True when [offset, offset + length) lies inside [0, limit), without overflow.
constexpr bool range_within(std::uint64_t offset, std::uint64_t length,
                            std::uint64_t limit) noexcept {
    return offset <= limit && length <= limit - offset;
}

// Wraps to 0 past UINT64_MAX: callers align values they have bounded first.
constexpr std::uint64_t align_up(std::uint64_t value, std::uint64_t alignment) noexcept {
    return (value + alignment - 1) & ~(alignment - 1);
}

constexpr std::uint64_t align_down(std::uint64_t value, std::uint64_t alignment) noexcept {
    return value & ~(alignment - 1);
}

}  // namespace domus
