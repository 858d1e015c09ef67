// Rate limits as xl writes them: a vif's `rate=RATE/s[@INTERVAL]` (xl-network-
// configuration(5)) and a disk's `rate_bytes=` / `rate_iops=` (Domus keys).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace domus::config {

// A vif's limit: `bytes_per_interval` may leave every `interval_us` (Xen's credit).
struct VifRate {
    std::uint64_t bytes_per_interval = 0;
    std::uint32_t interval_us = 50'000;
    bool operator==(const VifRate&) const = default;
    std::uint64_t bytes_per_second() const { return bytes_per_interval * 1'000'000 / interval_us; }
};

// RATE is a number with a unit, GB/MB/KB/B (bytes) or Gb/Mb/Kb/b (bits), decimal as
// xl's, then "/s";
// INTERVAL (default 50ms) a number with us, ms or s, at most 1 s. "10Mb/s@20ms".
Result<VifRate> parse_vif_rate(std::string_view text);
std::string format_vif_rate(const VifRate& rate);  // "1250000B/s@50000us"

// A size with an optional K/M/G suffix (1024-based): the disk's `rate_bytes=` value.
Result<std::uint64_t> parse_scaled_number(std::string_view text);

}  // namespace domus::config
