// Timeline: TSC stamps of the steps of a domain's life in its monitor (set-up, the
// guest's start, its shutdown, teardown), so `domus run --stats` can show where a short
// domain's milliseconds go and bench/run can print the breakdown as figures.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <span>

#include "base/cycle_clock.hpp"

namespace domus::monitor {

class Timeline {
public:
    struct Mark {
        const char* step;  // a string literal: what has just finished
        std::uint64_t tsc;
    };

    // Records that `step` has finished, now. Any thread; marks past capacity are dropped.
    void mark(const char* step) noexcept {
        std::size_t slot = count_.fetch_add(1, std::memory_order_relaxed);
        if (slot >= marks_.size()) return;
        marks_[slot] = {step, CycleClock::now()};
        written_[slot].store(true, std::memory_order_release);
    }

    // The marks recorded so far, in the order they were taken.
    std::span<const Mark> marks() const noexcept {
        std::size_t n = std::min(count_.load(std::memory_order_acquire), marks_.size());
        std::size_t done = 0;
        while (done < n && written_[done].load(std::memory_order_acquire))
            ++done;
        return {marks_.data(), done};
    }

private:
    static constexpr std::size_t kCapacity = 32;
    std::array<Mark, kCapacity> marks_{};
    std::array<std::atomic<bool>, kCapacity> written_{};
    std::atomic<std::size_t> count_ = 0;
};

}  // namespace domus::monitor
