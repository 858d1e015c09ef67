// Reading a monitor's `info` reply into DomainStats, and the host's own figures.
#include "toolstack/domain_stats.hpp"

#include <sys/sysinfo.h>
#include <unistd.h>

namespace domus::toolstack {

namespace {

template <typename T>
void take(const nlohmann::json& info, const char* key, T& out) {
    auto it = info.find(key);
    if (it != info.end() && it->is_number()) out = it->get<T>();
}

}  // namespace

bool apply_monitor_info(const nlohmann::json& info, DomainStats& stats) {
    if (!info.is_object()) return false;
    try {
        DomainStats next = stats;
        if (auto it = info.find("state"); it != info.end() && it->is_string())
            next.state = it->get<std::string>();
        take(info, "cpu_seconds", next.cpu_seconds);
        take(info, "uptime_seconds", next.uptime_seconds);
        if (auto it = info.find("memory_mib"); it != info.end() && it->is_number_unsigned())
            next.memory_kib = it->get<std::uint64_t>() * 1024;
        take(info, "memory_kib", next.memory_kib);  // exact, where the monitor says it
        take(info, "max_memory_kib", next.max_memory_kib);
        take(info, "vcpus", next.vcpus);
        take(info, "exits", next.exits);
        take(info, "hypercalls", next.hypercalls);
        take(info, "upcalls", next.upcalls);
        if (auto it = info.find("vbds"); it != info.end() && it->is_array())
            next.vbds = it->get<std::vector<VbdCounters>>();
        if (auto it = info.find("vifs"); it != info.end() && it->is_array())
            next.vifs = it->get<std::vector<VifCounters>>();
        stats = std::move(next);
        return true;
    } catch (const nlohmann::json::exception&) {
        return false;  // a field of the wrong type: keep what we had
    }
}

std::string state_columns(const std::string& state) {
    std::string columns = "------";
    static const std::string kLetters = "rbpscd";
    if (auto at = kLetters.find(state); state.size() == 1 && at != std::string::npos)
        columns[at] = state[0];
    return columns;
}

HostStats host_stats() {
    struct sysinfo system {};
    ::sysinfo(&system);
    long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
    return HostStats{
        .total_memory_kib = std::uint64_t(system.totalram) * system.mem_unit / 1024,
        .free_memory_kib = std::uint64_t(system.freeram) * system.mem_unit / 1024,
        .nr_cpus = cpus > 0 ? std::uint32_t(cpus) : 1,
    };
}

}  // namespace domus::toolstack
