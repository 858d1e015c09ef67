// FuzzInput: reads a fuzz input front to back as little-endian integers and byte runs,
// giving zeros once it runs out, so seeds can be written by hand (scripts, hex) in order.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "base/log.hpp"

namespace domus::fuzz {

class FuzzInput {
public:
    FuzzInput(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

    bool empty() const noexcept { return offset_ >= size_; }
    std::size_t remaining() const noexcept { return size_ - offset_; }

    template <class T>
    T get() noexcept {
        static_assert(std::is_trivially_copyable_v<T>);
        T value{};
        std::size_t n = std::min(sizeof(T), remaining());
        std::memcpy(&value, data_ + offset_, n);
        offset_ += n;
        return value;
    }
    std::uint8_t u8() noexcept { return get<std::uint8_t>(); }
    std::uint16_t u16() noexcept { return get<std::uint16_t>(); }
    std::uint32_t u32() noexcept { return get<std::uint32_t>(); }
    std::uint64_t u64() noexcept { return get<std::uint64_t>(); }

    // Up to `n` bytes (fewer at the end of the input).
    std::span<const std::byte> bytes(std::size_t n) noexcept {
        n = std::min(n, remaining());
        std::span<const std::byte> out(reinterpret_cast<const std::byte*>(data_ + offset_), n);
        offset_ += n;
        return out;
    }
    std::string_view text(std::size_t n) noexcept {
        auto b = bytes(n);
        return {reinterpret_cast<const char*>(b.data()), b.size()};
    }
    std::span<const std::byte> rest() noexcept { return bytes(remaining()); }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t offset_ = 0;
};

// Hostile input makes the code under test warn all the time: only errors are printed, so
// the fuzzer's own output stays readable and fast.
inline const bool kQuietLog = [] {
    log::Config::instance().level = log::Level::error;
    return true;
}();

// A violated invariant: abort, so libFuzzer records the input as a crash.
#define DOMUS_FUZZ_CHECK(condition)                                                                \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #condition); \
            std::abort();                                                                          \
        }                                                                                          \
    } while (0)

}  // namespace domus::fuzz
