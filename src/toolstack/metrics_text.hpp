// Prometheus text exposition format (version 0.0.4) of domusd's figures: per-domain CPU,
// memory, vCPUs and disks, the host's memory, and domusd's own health. Pure: the daemon
// collects, this formats, metrics_server serves.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "toolstack/domain_stats.hpp"

namespace domus::toolstack {

struct DaemonHealth {
    double uptime_seconds = 0;
    std::uint64_t requests = 0;        // CLI requests answered
    std::uint64_t request_errors = 0;  // of which answered with an error
    std::uint64_t store_restarts = 0;  // times domusd restarted a dead store
    bool store_up = false;             // the store answered just now
};

std::string prometheus_text(const StatsSnapshot& stats, const DaemonHealth& health);

// A label value with \, " and newline escaped as the format requires.
std::string prometheus_label_value(std::string_view value);

}  // namespace domus::toolstack
