// What domusd knows about each domain's resource use at one instant: the counters that
// `domus top` (xentop's columns) and the Prometheus metrics show. Built from a monitor's
// `info` reply; travels to the CLI as JSON.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace domus::toolstack {

struct VbdCounters {
    std::string vdev;
    std::uint64_t reads = 0;  // requests done
    std::uint64_t writes = 0;
    std::uint64_t read_bytes = 0;
    std::uint64_t write_bytes = 0;
    std::uint64_t errors = 0;  // refused or failed requests
};

struct VifCounters {
    std::uint32_t devid = 0;
    std::string ifname;
    std::uint64_t tx_packets = 0;  // from the guest
    std::uint64_t tx_bytes = 0;
    std::uint64_t rx_packets = 0;  // to the guest
    std::uint64_t rx_bytes = 0;
    std::uint64_t errors = 0;
    std::uint64_t dropped = 0;
    std::uint64_t notifications = 0;  // event-channel kicks netback sent the guest
};

struct DomainStats {
    std::uint32_t domid = 0;
    std::string name;
    std::string state = "?";  // xl's letter: r b p s c, or ? when the monitor did not answer
    double cpu_seconds = 0;
    double uptime_seconds = 0;
    std::uint64_t memory_kib = 0;      // what the domain holds now
    std::uint64_t max_memory_kib = 0;  // its ceiling (maxmem); 0: no limit (Domain-0)
    std::uint32_t vcpus = 0;           // online
    // What the guest cost in transitions (a nested host's currency, DESIGN.md): its exits
    // to the monitor, the hypercalls among them, and the upcalls injected into it.
    std::uint64_t exits = 0;
    std::uint64_t hypercalls = 0;
    std::uint64_t upcalls = 0;
    std::vector<VbdCounters> vbds;
    std::vector<VifCounters> vifs;
};

struct HostStats {
    std::uint64_t total_memory_kib = 0;
    std::uint64_t free_memory_kib = 0;
    std::uint32_t nr_cpus = 0;
};

// The whole picture, as domusd's `stats` request answers it.
struct StatsSnapshot {
    HostStats host;
    std::vector<DomainStats> domains;  // Domain-0 first
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(VbdCounters, vdev, reads, writes, read_bytes,
                                                write_bytes, errors)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(VifCounters, devid, ifname, tx_packets, tx_bytes,
                                                rx_packets, rx_bytes, errors, dropped,
                                                notifications)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(DomainStats, domid, name, state, cpu_seconds,
                                                uptime_seconds, memory_kib, max_memory_kib, vcpus,
                                                exits, hypercalls, upcalls, vbds, vifs)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(HostStats, total_memory_kib, free_memory_kib,
                                                nr_cpus)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(StatsSnapshot, host, domains)

// Fills what a monitor's `info` reply says into `stats` (fields it lacks keep their value,
// so the caller seeds them from the domain's configuration). A malformed reply changes
// nothing and returns false.
bool apply_monitor_info(const nlohmann::json& info, DomainStats& stats);

// xl's six-column state, one position per letter of "rbpscd": "r" -> "r-----".
std::string state_columns(const std::string& state);

// The host's memory and CPUs as domains see them (sysinfo, the online CPUs).
HostStats host_stats();

}  // namespace domus::toolstack
