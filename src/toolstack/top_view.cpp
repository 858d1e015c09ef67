// xentop's columns: NAME STATE CPU(sec) CPU(%) MEM(k) MEM(%) MAXMEM(k) MAXMEM(%) VCPUS
// NETS NETTX(k) NETRX(k) VBDS VBD_RD VBD_WR VBD_RSECT VBD_WSECT.
#include "toolstack/top_view.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace domus::toolstack {

namespace {

constexpr const char* kRowFormat =
    "{:>10} {:>6} {:>10} {:>6} {:>10} {:>6} {:>10} {:>9} {:>5} {:>4} {:>8} {:>8} {:>4} {:>8} "
    "{:>8} {:>10} {:>10}";

double cpu_percent(const DomainStats& now, const DomainStats* before, double seconds) {
    if (before && seconds > 0 && now.cpu_seconds >= before->cpu_seconds)
        return (now.cpu_seconds - before->cpu_seconds) / seconds * 100.0;
    return now.uptime_seconds > 0 ? now.cpu_seconds / now.uptime_seconds * 100.0 : 0.0;
}

}  // namespace

std::string top_header() {
    return fmt::format(fmt::runtime(kRowFormat), "NAME", "STATE", "CPU(sec)", "CPU(%)", "MEM(k)",
                       "MEM(%)", "MAXMEM(k)", "MAXMEM(%)", "VCPUS", "NETS", "NETTX(k)", "NETRX(k)",
                       "VBDS", "VBD_RD", "VBD_WR", "VBD_RSECT", "VBD_WSECT");
}

std::vector<std::string> top_rows(const StatsSnapshot& now, const StatsSnapshot* before,
                                  double seconds) {
    std::map<std::uint32_t, const DomainStats*> previous;
    if (before)
        for (const auto& domain : before->domains)
            previous[domain.domid] = &domain;
    double total = double(std::max<std::uint64_t>(now.host.total_memory_kib, 1));
    std::vector<std::string> lines;
    for (const auto& domain : now.domains) {
        auto it = previous.find(domain.domid);
        // A domain ID names one domain at a time; a new one under an old name restarts.
        const DomainStats* earlier =
            it != previous.end() && it->second->name == domain.name ? it->second : nullptr;
        std::uint64_t reads = 0, writes = 0, read_bytes = 0, write_bytes = 0;
        for (const auto& vbd : domain.vbds) {
            reads += vbd.reads;
            writes += vbd.writes;
            read_bytes += vbd.read_bytes;
            write_bytes += vbd.write_bytes;
        }
        std::uint64_t net_tx = 0, net_rx = 0;
        for (const auto& vif : domain.vifs) {
            net_tx += vif.tx_bytes;
            net_rx += vif.rx_bytes;
        }
        bool limited = domain.max_memory_kib != 0;
        lines.push_back(fmt::format(
            fmt::runtime(kRowFormat), domain.name.substr(0, 10), state_columns(domain.state),
            std::uint64_t(domain.cpu_seconds),
            fmt::format("{:.1f}", cpu_percent(domain, earlier, seconds)), domain.memory_kib,
            fmt::format("{:.1f}", double(domain.memory_kib) / total * 100.0),
            limited ? fmt::format("{}", domain.max_memory_kib) : "no limit",
            limited ? fmt::format("{:.1f}", double(domain.max_memory_kib) / total * 100.0) : "n/a",
            domain.vcpus, domain.vifs.size(), net_tx / 1024, net_rx / 1024, domain.vbds.size(),
            reads, writes, read_bytes / 512, write_bytes / 512));
    }
    return lines;
}

std::vector<std::string> top_summary(const StatsSnapshot& now) {
    std::map<char, int> by_state;
    for (const auto& domain : now.domains)
        if (!domain.state.empty()) ++by_state[domain.state[0]];
    std::uint64_t used =
        now.host.total_memory_kib - std::min(now.host.total_memory_kib, now.host.free_memory_kib);
    return {
        fmt::format("{} domains: {} running, {} blocked, {} paused, {} crashed, {} shutdown",
                    now.domains.size(), by_state['r'], by_state['b'], by_state['p'], by_state['c'],
                    by_state['s']),
        fmt::format("Mem: {}k total, {}k used, {}k free    CPUs: {}", now.host.total_memory_kib,
                    used, now.host.free_memory_kib, now.host.nr_cpus),
    };
}

}  // namespace domus::toolstack
