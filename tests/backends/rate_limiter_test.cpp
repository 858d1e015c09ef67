// Token buckets on a fake clock: bursts up to the size, the average rate over time,
// large pieces in debt, both buckets of a RateLimiter, and a limit changed in flight.
#include "backends/rate_limiter.hpp"

#include <gtest/gtest.h>

namespace domus::backends {
namespace {

using namespace std::chrono_literals;

struct FakeClock {
    RateClock::time_point now{};
    void advance(std::chrono::nanoseconds by) { now += by; }
};

TEST(TokenBucketTest, ABurstUpToTheSizeThenWorkWaitsForTheRefill) {
    FakeClock clock;
    TokenBucket bucket(1000, 100ms, clock.now);  // 10,000 a second
    EXPECT_TRUE(bucket.try_take(600, clock.now));
    EXPECT_TRUE(bucket.try_take(400, clock.now));
    EXPECT_FALSE(bucket.try_take(1, clock.now));
    EXPECT_EQ(bucket.wait_for(100, clock.now), 10ms);
    clock.advance(9ms);
    EXPECT_FALSE(bucket.try_take(100, clock.now));
    clock.advance(1ms);
    EXPECT_TRUE(bucket.try_take(100, clock.now));
    // It never holds more than its size, however long it rested.
    clock.advance(10s);
    EXPECT_TRUE(bucket.try_take(1000, clock.now));
    EXPECT_FALSE(bucket.try_take(1, clock.now));
}

TEST(TokenBucketTest, TheAverageRateHoldsForPiecesOfAnySize) {
    for (std::uint64_t piece : {1ull, 1514ull, 9000ull, 65536ull}) {
        FakeClock clock;
        TokenBucket bucket(62'500, 50ms, clock.now);  // 10Mb/s@50ms: 1,250,000 B/s
        std::uint64_t sent = 0;
        auto end = clock.now + 10s;
        while (clock.now < end) {
            if (bucket.try_take(piece, clock.now)) {
                sent += piece;
                continue;
            }
            auto wait = bucket.wait_for(piece, clock.now);
            ASSERT_GT(wait.count(), 0);
            clock.advance(wait);
        }
        // 10 s at 1,250,000 B/s, plus the first full bucket, within a piece.
        double expected = 12'500'000.0 + 62'500.0;
        EXPECT_NEAR(double(sent), expected, double(piece) + 1) << "piece " << piece;
    }
}

TEST(TokenBucketTest, APieceLargerThanTheBucketGoesWhenFullAndLeavesADebt) {
    FakeClock clock;
    TokenBucket bucket(1000, 1s, clock.now);
    EXPECT_TRUE(bucket.try_take(3000, clock.now));  // full: it goes, 2000 owed
    EXPECT_FALSE(bucket.try_take(1, clock.now));
    EXPECT_EQ(bucket.wait_for(1, clock.now), 2001ms);
    clock.advance(3s);  // the debt paid and the bucket full again
    EXPECT_TRUE(bucket.try_take(3000, clock.now));
}

TEST(TokenBucketTest, SizeZeroIsUnlimitedAndAReconfigurationAppliesAtOnce) {
    FakeClock clock;
    TokenBucket bucket;
    EXPECT_TRUE(bucket.unlimited());
    EXPECT_TRUE(bucket.try_take(1ull << 40, clock.now));
    EXPECT_EQ(bucket.wait_for(1ull << 40, clock.now), 0ns);
    bucket.reconfigure(100, 1s, clock.now);
    EXPECT_TRUE(bucket.try_take(100, clock.now));
    EXPECT_FALSE(bucket.try_take(100, clock.now));
    bucket.reconfigure(0, 1s, clock.now);
    EXPECT_TRUE(bucket.try_take(100, clock.now));
}

TEST(TokenBucketTest, APerSecondBucketHoldsATenthOfASecond) {
    FakeClock clock;
    auto bytes = per_second_bucket(10'000'000, clock.now);
    EXPECT_EQ(bytes.size(), 1'000'000u);
    EXPECT_EQ(bytes.refill_time(), 100ms);
    auto slow = per_second_bucket(3, clock.now);  // at least one token
    EXPECT_EQ(slow.size(), 1u);
    EXPECT_TRUE(slow.try_take(1, clock.now));
    EXPECT_FALSE(slow.try_take(1, clock.now));
    clock.advance(333'333'334ns);
    EXPECT_TRUE(slow.try_take(1, clock.now));
    EXPECT_TRUE(per_second_bucket(0, clock.now).unlimited());
}

TEST(RateLimiterTest, WorkGoesOnlyWhenBothBytesAndOperationsAllowAndARefusalTakesNothing) {
    FakeClock clock;
    RateLimiter limiter(TokenBucket(10'000, 1s, clock.now), TokenBucket(2, 1s, clock.now));
    EXPECT_TRUE(limiter.try_take(4096, clock.now));
    EXPECT_TRUE(limiter.try_take(4096, clock.now));
    EXPECT_FALSE(limiter.try_take(512, clock.now));  // bytes left, but no operation
    EXPECT_EQ(limiter.wait_for(512, clock.now), 500ms);
    clock.advance(500ms);
    EXPECT_TRUE(limiter.try_take(512, clock.now));
    // Bytes run out first here: the refusal leaves the operation bucket as it was.
    clock.advance(1s);
    EXPECT_TRUE(limiter.try_take(10'000, clock.now));
    EXPECT_FALSE(limiter.try_take(10'000, clock.now));
    clock.advance(1ms);  // bytes come back; the one operation left is still there
    EXPECT_TRUE(limiter.try_take(1, clock.now));
    EXPECT_FALSE(limiter.try_take(1, clock.now));
}

}  // namespace
}  // namespace domus::backends
