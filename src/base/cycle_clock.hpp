// CycleClock: the TSC as a stopwatch for hot-path stage timings (a read costs a few
// nanoseconds, clock_gettime about twenty), converted to time against the steady clock.
#pragma once

#include <x86intrin.h>

#include <chrono>
#include <cstdint>

namespace domus {

class CycleClock {
public:
    static std::uint64_t now() noexcept { return __rdtsc(); }

    // Nanoseconds per cycle, measured from the first call of start() (or of this) to now;
    // waits until 1 ms has passed since then, so the figure is precise to about 0.1%.
    static double ns_per_cycle() noexcept {
        const Anchor& from = anchor();
        for (;;) {
            auto ns = steady_ns() - from.ns;
            if (ns >= 1'000'000) return double(ns) / double(now() - from.cycles);
        }
    }
    // Sets the anchor early (say, when the object whose stages are timed is made).
    static void start() noexcept { (void)anchor(); }

private:
    struct Anchor {
        std::uint64_t cycles;
        std::uint64_t ns;
    };
    static std::uint64_t steady_ns() noexcept {
        return std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count());
    }
    static const Anchor& anchor() noexcept {
        static const Anchor anchor{now(), steady_ns()};  // the process's one anchor
        return anchor;
    }
};

// Adds the cycles of its scope to `total`: one stage of a request's way through.
class StageTimer {
public:
    explicit StageTimer(std::uint64_t& total) noexcept : total_(total), start_(CycleClock::now()) {}
    ~StageTimer() { total_ += CycleClock::now() - start_; }
    StageTimer(const StageTimer&) = delete;
    StageTimer& operator=(const StageTimer&) = delete;

private:
    std::uint64_t& total_;
    std::uint64_t start_;
};

}  // namespace domus
