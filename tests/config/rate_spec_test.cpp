// xl's rate strings: a vif's RATE/s[@INTERVAL] and the disks' scaled numbers.
#include "config/rate_spec.hpp"

#include <gtest/gtest.h>

namespace domus::config {
namespace {

TEST(RateSpecTest, UnitsAreDecimalBitsOrBytesAndTheIntervalDefaultsTo50ms) {
    EXPECT_EQ(*parse_vif_rate("10Mb/s"), (VifRate{62'500, 50'000}));
    EXPECT_EQ(*parse_vif_rate("10Mb/s@20ms"), (VifRate{25'000, 20'000}));
    EXPECT_EQ(*parse_vif_rate("1GB/s@1s"), (VifRate{1'000'000'000, 1'000'000}));
    EXPECT_EQ(*parse_vif_rate("8Kb/s@500000us"), (VifRate{500, 500'000}));
    EXPECT_EQ(*parse_vif_rate("100B/s@1s"), (VifRate{100, 1'000'000}));
    EXPECT_EQ(parse_vif_rate("10Mb/s@20ms")->bytes_per_second(), 1'250'000u);
}

TEST(RateSpecTest, WhatXlWouldNotTakeIsRefusedSayingWhy) {
    for (const char* text : {"", "Mb/s", "10", "10Mb", "10mb/s", "10Mb/s@", "10Mb/s@20",
                             "10Mb/s@0ms", "10Mb/s@2s", "1b/s@1us", "99999999999999GB/s", "-1Mb/s"})
        EXPECT_FALSE(parse_vif_rate(text)) << text;
}

TEST(RateSpecTest, FormattedRatesReadBackTheSame) {
    for (const char* text : {"10Mb/s@20ms", "3GB/s", "123456B/s@777us"}) {
        auto rate = parse_vif_rate(text);
        ASSERT_TRUE(rate) << text;
        EXPECT_EQ(*parse_vif_rate(format_vif_rate(*rate)), *rate) << format_vif_rate(*rate);
    }
}

TEST(RateSpecTest, ScaledNumbersTakeBinarySuffixes) {
    EXPECT_EQ(*parse_scaled_number("4096"), 4096u);
    EXPECT_EQ(*parse_scaled_number("10M"), 10u << 20);
    EXPECT_EQ(*parse_scaled_number("2G"), 2ull << 30);
    EXPECT_FALSE(parse_scaled_number("10MB"));
    EXPECT_FALSE(parse_scaled_number("x"));
    EXPECT_FALSE(parse_scaled_number("99999999999G"));
}

}  // namespace
}  // namespace domus::config
