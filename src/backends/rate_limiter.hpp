// Token buckets for the backends' rate limits (a vif's rate=, a disk's bytes/s and IOPS):
// work is let through while tokens last and held, not dropped, until they come back.
// Time is passed in, so tests drive it with a fake clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace domus::backends {

using RateClock = std::chrono::steady_clock;

// `size` tokens, refilled evenly over `refill_time` (so size / refill_time per second)
// up to `size`, which is also the largest burst. A piece of work larger than `size` goes
// when the bucket is full and leaves it in debt, so the average rate still holds.
// Size 0: unlimited.
class TokenBucket {
public:
    TokenBucket() = default;
    TokenBucket(std::uint64_t size, std::chrono::nanoseconds refill_time,
                RateClock::time_point now);

    bool unlimited() const noexcept { return size_ == 0; }
    // Takes `amount` tokens if there are enough (or the bucket is full); false: none taken.
    bool try_take(std::uint64_t amount, RateClock::time_point now);
    // How long until try_take(amount) would succeed (zero when it would now).
    std::chrono::nanoseconds wait_for(std::uint64_t amount, RateClock::time_point now);
    // A new size and refill time, starting full (a changed limit applies at once).
    void reconfigure(std::uint64_t size, std::chrono::nanoseconds refill_time,
                     RateClock::time_point now);

    std::uint64_t size() const noexcept { return size_; }
    std::chrono::nanoseconds refill_time() const noexcept { return refill_time_; }

private:
    void refill(RateClock::time_point now);
    std::uint64_t needed(std::uint64_t amount) const noexcept {
        return amount < size_ ? amount : size_;
    }

    std::uint64_t size_ = 0;
    std::chrono::nanoseconds refill_time_{0};
    // Tokens, negative while in debt; kept in token-nanoseconds (tokens * refill_time)
    // so that refilling by elapsed time never rounds a token away.
    __int128 scaled_tokens_ = 0;
    RateClock::time_point last_{};
};

// A bucket for `per_second` tokens a second that holds a tenth of a second's worth (at
// least one token): bursts stay short, the rate is exact. 0: unlimited.
TokenBucket per_second_bucket(std::uint64_t per_second, RateClock::time_point now);

// A limit on bytes and on operations at once (Firecracker's RateLimiter): a piece of
// work goes when both buckets allow it, and takes from both.
class RateLimiter {
public:
    RateLimiter() = default;
    RateLimiter(TokenBucket bytes, TokenBucket operations)
        : bytes_(bytes), operations_(operations) {}

    bool unlimited() const noexcept { return bytes_.unlimited() && operations_.unlimited(); }
    bool try_take(std::uint64_t bytes, RateClock::time_point now);
    std::chrono::nanoseconds wait_for(std::uint64_t bytes, RateClock::time_point now);

    TokenBucket& bytes() noexcept { return bytes_; }
    TokenBucket& operations() noexcept { return operations_; }

private:
    TokenBucket bytes_;
    TokenBucket operations_;
};

// Arms the one-shot timerfd `timer` to fire when a held request may go (`wait` from
// now; at least 1 ns, since zero would disarm it), or disarms it when nothing is held.
void arm_retry_timer(int timer, std::optional<std::chrono::nanoseconds> wait);

}  // namespace domus::backends
