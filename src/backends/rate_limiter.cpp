// TokenBucket and RateLimiter (see rate_limiter.hpp).
#include "backends/rate_limiter.hpp"

#include <sys/timerfd.h>

#include <algorithm>

namespace domus::backends {

TokenBucket::TokenBucket(std::uint64_t size, std::chrono::nanoseconds refill_time,
                         RateClock::time_point now) {
    reconfigure(size, refill_time, now);
}

void TokenBucket::reconfigure(std::uint64_t size, std::chrono::nanoseconds refill_time,
                              RateClock::time_point now) {
    if (refill_time.count() <= 0) size = 0;  // no refill time: no limit
    size_ = size;
    refill_time_ = refill_time;
    scaled_tokens_ = __int128(size) * refill_time.count();
    last_ = now;
}

void TokenBucket::refill(RateClock::time_point now) {
    if (now <= last_) return;
    auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(now - last_).count();
    last_ = now;
    __int128 full = __int128(size_) * refill_time_.count();
    // elapsed ns bring elapsed * size / refill_time tokens: elapsed * size scaled.
    __int128 added = __int128(elapsed) * size_;
    scaled_tokens_ = added >= full - scaled_tokens_ ? full : scaled_tokens_ + added;
}

bool TokenBucket::try_take(std::uint64_t amount, RateClock::time_point now) {
    if (unlimited()) return true;
    refill(now);
    __int128 need = __int128(needed(amount)) * refill_time_.count();
    if (scaled_tokens_ < need) return false;
    scaled_tokens_ -= __int128(amount) * refill_time_.count();
    return true;
}

std::chrono::nanoseconds TokenBucket::wait_for(std::uint64_t amount, RateClock::time_point now) {
    if (unlimited()) return {};
    refill(now);
    __int128 missing = __int128(needed(amount)) * refill_time_.count() - scaled_tokens_;
    if (missing <= 0) return {};
    // Each ns adds `size_` scaled tokens; round up so the wait is never short.
    return std::chrono::nanoseconds(std::int64_t((missing + size_ - 1) / size_));
}

TokenBucket per_second_bucket(std::uint64_t per_second, RateClock::time_point now) {
    if (per_second == 0) return TokenBucket();
    std::uint64_t size = std::max<std::uint64_t>(per_second / 10, 1);
    // size tokens take size / per_second seconds to come back.
    auto refill =
        std::chrono::nanoseconds(std::int64_t(__int128(size) * 1'000'000'000 / per_second));
    return TokenBucket(size, refill, now);
}

bool RateLimiter::try_take(std::uint64_t bytes, RateClock::time_point now) {
    // Check both before taking from either, so a refusal takes nothing.
    if (bytes_.wait_for(bytes, now).count() > 0 || operations_.wait_for(1, now).count() > 0)
        return false;
    bytes_.try_take(bytes, now);
    operations_.try_take(1, now);
    return true;
}

std::chrono::nanoseconds RateLimiter::wait_for(std::uint64_t bytes, RateClock::time_point now) {
    return std::max(bytes_.wait_for(bytes, now), operations_.wait_for(1, now));
}

void arm_retry_timer(int timer, std::optional<std::chrono::nanoseconds> wait) {
    itimerspec when{};  // zero: disarmed
    if (wait) {
        auto ns = std::max<std::int64_t>(wait->count(), 1);
        when.it_value.tv_sec = ns / 1'000'000'000;
        when.it_value.tv_nsec = ns % 1'000'000'000;
    }
    ::timerfd_settime(timer, 0, &when, nullptr);
}

}  // namespace domus::backends
