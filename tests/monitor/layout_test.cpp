// Tests for monitor/layout: memory size rounding and bounds, and the order, alignment
// and extent of the monitor area at the top of guest memory.
#include "monitor/layout.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "monitor/page_tables.hpp"

namespace domus::monitor {
namespace {

constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::uint64_t kGiB = 1ull << 30;

Layout compute_ok(std::uint64_t memory_size) {
    auto layout = Layout::compute(memory_size);
    EXPECT_TRUE(layout.ok()) << layout.error().message;
    return layout.ok() ? *layout : Layout{};
}

TEST(Layout, RoundsMemoryUpToTwoMiB) {
    EXPECT_EQ(compute_ok(4 * kMiB).memory_size, 4 * kMiB);
    EXPECT_EQ(compute_ok(4 * kMiB + 1).memory_size, 6 * kMiB);
    EXPECT_EQ(compute_ok(5 * kMiB).memory_size, 6 * kMiB);
    EXPECT_EQ(compute_ok(6 * kMiB).memory_size, 6 * kMiB);
    EXPECT_EQ(compute_ok(kMaxMemory - 1).memory_size, kMaxMemory);
    EXPECT_EQ(compute_ok(kMaxMemory).memory_size, kMaxMemory);
}

TEST(Layout, RejectsSizesOutsideTheBounds) {
    for (std::uint64_t size : {std::uint64_t{0}, kMiB, kMinMemory - 1, kMaxMemory + 1, 128 * kGiB,
                               std::numeric_limits<std::uint64_t>::max()}) {
        auto layout = Layout::compute(size);
        ASSERT_FALSE(layout.ok()) << size;
        EXPECT_NE(layout.error().message.find("is outside 4..65536 MiB"), std::string::npos)
            << layout.error().message;
    }
}

class LayoutAreas : public ::testing::TestWithParam<std::uint64_t> {
protected:
    Layout layout = compute_ok(GetParam());
};

TEST_P(LayoutAreas, AreOrderedOnePageEachButTheTss) {
    EXPECT_EQ(layout.start_info, layout.tss + kTssPages * kPageSize);
    EXPECT_EQ(layout.shared_info, layout.start_info + kPageSize);
    EXPECT_EQ(layout.console_ring, layout.shared_info + kPageSize);
    EXPECT_EQ(layout.store_ring, layout.console_ring + kPageSize);
    // The boot stack sits above the store ring, with a guard page below the page tables.
    EXPECT_LE(layout.store_ring + kPageSize, layout.boot_stack_top - kBootStackSize);
    EXPECT_LE(layout.boot_stack_top + kPageSize, layout.page_tables);
}

TEST_P(LayoutAreas, ArePageAlignedAndInsideMemory) {
    for (std::uint64_t area :
         {layout.monitor_area, layout.tss, layout.start_info, layout.shared_info,
          layout.console_ring, layout.store_ring, layout.boot_stack_top, layout.page_tables}) {
        EXPECT_EQ(area % kPageSize, 0u) << std::hex << area;
        EXPECT_LT(area, layout.memory_size) << std::hex << area;
        EXPECT_GE(area, kImageBase) << std::hex << area;
    }
}

TEST_P(LayoutAreas, PageTablesEndExactlyAtTheTopOfMemory) {
    EXPECT_EQ(layout.page_table_frames, page_table_frames_for(layout.memory_size));
    EXPECT_EQ(layout.page_tables + layout.page_table_frames * kPageSize, layout.memory_size);
}

TEST_P(LayoutAreas, MonitorAreaStartsAtTheLowestArea) {
    EXPECT_EQ(layout.monitor_area, layout.tss);
    EXPECT_EQ(layout.memory_size % kLargePageSize, 0u);
}

// The review's finding: a one-page TSS (limit 4095) let the bitmap stop near port 0x7cb8.
TEST_P(LayoutAreas, TssHoldsABitmapForEveryPortAndItsClosingByte) {
    constexpr std::uint64_t kLastPortByte = kTssIoBitmapOffset + 0xffff / 8;
    EXPECT_LT(kLastPortByte, kTssLimit);  // (the CPU reads it and the byte after)
    EXPECT_EQ(kTssLimit, kTssIoBitmapOffset + 0x10000 / 8);
    EXPECT_LE(layout.tss + kTssLimit + 1, layout.start_info);
}

INSTANTIATE_TEST_SUITE_P(Sizes, LayoutAreas,
                         ::testing::Values(kMinMemory, 6 * kMiB, 128 * kMiB, kGiB, kGiB + 2 * kMiB,
                                           3 * kGiB, kMaxMemory),
                         [](const auto& info) { return std::to_string(info.param >> 20) + "MiB"; });

}  // namespace
}  // namespace domus::monitor
