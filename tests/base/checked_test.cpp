// Tests for base/checked.hpp: overflow-checked arithmetic and the range test used on
// every guest-supplied (offset, length) pair.
#include "base/checked.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace domus {
namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

TEST(CheckedAdd, ReturnsSumWhenItFits) {
    EXPECT_EQ(checked_add(1, 2), 3u);
    EXPECT_EQ(checked_add(0, 0), 0u);
    EXPECT_EQ(checked_add(kMax, 0), kMax);
    EXPECT_EQ(checked_add(kMax - 5, 5), kMax);
}

TEST(CheckedAdd, ReportsOverflow) {
    EXPECT_EQ(checked_add(kMax, 1), std::nullopt);
    EXPECT_EQ(checked_add(1, kMax), std::nullopt);
    EXPECT_EQ(checked_add(1ull << 63, 1ull << 63), std::nullopt);
    EXPECT_EQ(checked_add(kMax, kMax), std::nullopt);
}

TEST(CheckedMul, ReturnsProductWhenItFits) {
    EXPECT_EQ(checked_mul(0, kMax), 0u);
    EXPECT_EQ(checked_mul(kMax, 1), kMax);
    EXPECT_EQ(checked_mul(3, kMax / 3), kMax);
    EXPECT_EQ(checked_mul(1ull << 32, 1ull << 31), 1ull << 63);
}

TEST(CheckedMul, ReportsOverflow) {
    EXPECT_EQ(checked_mul(1ull << 32, 1ull << 32), std::nullopt);
    EXPECT_EQ(checked_mul(kMax, 2), std::nullopt);
    EXPECT_EQ(checked_mul(kMax / 3 + 1, 3), std::nullopt);
}

TEST(RangeWithin, AcceptsRangesInsideTheLimit) {
    EXPECT_TRUE(range_within(0, 10, 10));
    EXPECT_TRUE(range_within(9, 1, 10));
    EXPECT_TRUE(range_within(10, 0, 10));  // empty range at the end
    EXPECT_TRUE(range_within(0, 0, 0));    // empty range in empty space
    EXPECT_TRUE(range_within(0, kMax, kMax));
    EXPECT_TRUE(range_within(kMax, 0, kMax));
    EXPECT_TRUE(range_within(kMax - 1, 1, kMax));
}

TEST(RangeWithin, RejectsRangesCrossingTheLimit) {
    EXPECT_FALSE(range_within(9, 2, 10));
    EXPECT_FALSE(range_within(11, 0, 10));  // offset past the end, even with no length
    EXPECT_FALSE(range_within(0, 1, 0));
    EXPECT_FALSE(range_within(1, 0, 0));
    EXPECT_FALSE(range_within(kMax, 1, kMax));
    EXPECT_FALSE(range_within(1, kMax, kMax));
}

TEST(RangeWithin, RejectsRangesWhoseEndWrapsAround) {
    // offset + length overflows to a small number: a naive `offset + length <= limit` passes.
    EXPECT_FALSE(range_within(2, kMax - 1, 100));
    EXPECT_FALSE(range_within(50, kMax, 100));
    EXPECT_FALSE(range_within(kMax, kMax, kMax));
}

TEST(RangeWithin, IsUsableAtCompileTime) {
    static_assert(range_within(4096, 4096, 8192));
    static_assert(!range_within(4096, 4097, 8192));
}

TEST(Align, RoundsUpToTheAlignment) {
    EXPECT_EQ(align_up(0, 4096), 0u);
    EXPECT_EQ(align_up(1, 4096), 4096u);
    EXPECT_EQ(align_up(4095, 4096), 4096u);
    EXPECT_EQ(align_up(4096, 4096), 4096u);
    EXPECT_EQ(align_up(4097, 4096), 8192u);
    EXPECT_EQ(align_up(3, 4), 4u);
    EXPECT_EQ(align_up(123, 1), 123u);
    EXPECT_EQ(align_up(kMax - 4095, 4096), kMax - 4095);  // already aligned near the top
}

TEST(Align, RoundsDownToTheAlignment) {
    EXPECT_EQ(align_down(0, 4096), 0u);
    EXPECT_EQ(align_down(4095, 4096), 0u);
    EXPECT_EQ(align_down(4096, 4096), 4096u);
    EXPECT_EQ(align_down(8191, 4096), 4096u);
    EXPECT_EQ(align_down(kMax, 4096), kMax - 4095);
    EXPECT_EQ(align_down(kMax, 1), kMax);
    EXPECT_EQ(align_down(7, 2ull << 20), 0u);
}

}  // namespace
}  // namespace domus
