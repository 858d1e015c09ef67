// Tests for monitor/physmap: the per-frame record of populated guest RAM, its bounds and
// the maximum (no KVM, no memory).
#include "monitor/physmap.hpp"

#include <gtest/gtest.h>

namespace domus::monitor {
namespace {

using Verdict = Physmap::Verdict;

TEST(PhysmapTest, StartsFullyPopulatedWithTheMaximumAtTheSize) {
    Physmap map(1000, 100, 900);
    EXPECT_EQ(map.total(), 1000u);
    EXPECT_EQ(map.current(), 1000u);
    EXPECT_EQ(map.maximum(), 1000u);
    EXPECT_TRUE(map.populated(0));
    EXPECT_TRUE(map.populated(999));
    EXPECT_FALSE(map.populated(1000));
}

TEST(PhysmapTest, ReleaseAndPopulateTrackEachFrame) {
    Physmap map(1000, 100, 900);
    EXPECT_EQ(map.release(100), Verdict::ok);
    EXPECT_EQ(map.release(899), Verdict::ok);
    EXPECT_FALSE(map.populated(100));
    EXPECT_TRUE(map.populated(101));
    EXPECT_EQ(map.current(), 998u);
    EXPECT_EQ(map.populate(100), Verdict::ok);
    EXPECT_TRUE(map.populated(100));
    EXPECT_EQ(map.current(), 999u);
}

TEST(PhysmapTest, FramesOutsideTheGivableRangeAreRefused) {
    Physmap map(1000, 100, 900);
    for (std::uint64_t frame : {0ull, 99ull, 900ull, 999ull, 1000ull, ~0ull}) {
        EXPECT_EQ(map.release(frame), Verdict::out_of_range) << frame;
        EXPECT_EQ(map.populate(frame), Verdict::out_of_range) << frame;
    }
    EXPECT_EQ(map.current(), 1000u);
}

TEST(PhysmapTest, AFrameGivenTwiceOrTakenTwiceIsRefused) {
    Physmap map(1000, 100, 900);
    ASSERT_EQ(map.release(500), Verdict::ok);
    EXPECT_EQ(map.release(500), Verdict::not_populated);
    EXPECT_EQ(map.populate(501), Verdict::already_populated);
    ASSERT_EQ(map.populate(500), Verdict::ok);
    EXPECT_EQ(map.populate(500), Verdict::already_populated);
    EXPECT_EQ(map.current(), 1000u);
}

TEST(PhysmapTest, PopulateStopsAtTheMaximum) {
    Physmap map(1000, 100, 900);
    for (std::uint64_t frame = 100; frame < 110; ++frame)
        ASSERT_EQ(map.release(frame), Verdict::ok);
    ASSERT_TRUE(map.set_maximum(995));
    for (std::uint64_t frame = 100; frame < 105; ++frame)
        EXPECT_EQ(map.populate(frame), Verdict::ok);
    EXPECT_EQ(map.populate(105), Verdict::over_maximum);
    EXPECT_EQ(map.current(), 995u);
}

TEST(PhysmapTest, TheMaximumNeverGoesBelowTheCurrentNorAboveTheSize) {
    Physmap map(1000, 100, 900);
    EXPECT_FALSE(map.set_maximum(999));
    EXPECT_FALSE(map.set_maximum(1001));
    for (std::uint64_t frame = 100; frame < 300; ++frame)
        ASSERT_EQ(map.release(frame), Verdict::ok);
    EXPECT_TRUE(map.set_maximum(800));
    EXPECT_FALSE(map.set_maximum(799));
    EXPECT_TRUE(map.set_maximum(1000));
    EXPECT_EQ(map.maximum(), 1000u);
}

TEST(PhysmapTest, BoundsBeyondTheSizeAreClamped) {
    Physmap map(64, 80, 10);  // nothing may be given back
    EXPECT_EQ(map.release(63), Verdict::out_of_range);
    EXPECT_EQ(map.release(10), Verdict::out_of_range);
}

// A restore takes the saved bits: frames given back stay so, and may come back.
TEST(PhysmapTest, AssignTakesSavedBitsAndRefusesWhatDoesNotFit) {
    Physmap source(130, 10, 120);
    for (std::uint64_t f = 20; f < 100; ++f)
        ASSERT_EQ(source.release(f), Verdict::ok);
    ASSERT_TRUE(source.set_maximum(60));
    Physmap map(130, 10, 120);
    ASSERT_TRUE(map.assign(source.bits(), source.maximum()));
    EXPECT_EQ(map.current(), 50u);
    EXPECT_EQ(map.maximum(), 60u);
    EXPECT_FALSE(map.populated(20));
    EXPECT_TRUE(map.populated(100));
    EXPECT_EQ(map.populate(20), Verdict::ok);
    EXPECT_EQ(map.release(19), Verdict::ok);

    Physmap fresh(130, 10, 120);
    std::vector<std::uint64_t> bits = source.bits();
    EXPECT_FALSE(fresh.assign(std::span(bits).first(2), 130)) << "the wrong size";
    EXPECT_FALSE(fresh.assign(bits, 49)) << "a maximum below what it holds";
    EXPECT_FALSE(fresh.assign(bits, 131)) << "a maximum above the size";
    bits[0] &= ~std::uint64_t(1);  // frame 0: outside what the guest may give back
    EXPECT_FALSE(fresh.assign(bits, 130));
    bits = source.bits();
    bits[2] |= std::uint64_t(1) << 63;  // frame 191: beyond the size
    EXPECT_FALSE(fresh.assign(bits, 130));
    EXPECT_EQ(fresh.current(), 130u) << "a refusal changes nothing";
}

}  // namespace
}  // namespace domus::monitor
