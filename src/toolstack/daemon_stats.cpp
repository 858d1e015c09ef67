// domusd: what each domain uses now. One collection (each monitor's `info`, seeded with
// the domain's configuration when the monitor does not answer) feeds `list`, `stats`
// (`domus top`) and the Prometheus metrics.
#include <sys/sysinfo.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <ctime>

#include "toolstack/daemon.hpp"
#include "toolstack/json_socket.hpp"
#include "toolstack/metrics_text.hpp"

namespace domus::toolstack {

StatsSnapshot Daemon::collect_stats() {
    std::vector<std::shared_ptr<Entry>> entries;
    {
        std::lock_guard lock(mutex_);
        for (auto& [domid, entry] : domains_)
            if (!entry->creating) entries.push_back(entry);
    }
    StatsSnapshot snapshot;
    snapshot.host = host_stats();
    struct sysinfo system {};
    ::sysinfo(&system);
    timespec cpu{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    snapshot.domains.push_back(DomainStats{
        .domid = 0,
        .name = "Domain-0",
        .state = "r",
        .cpu_seconds = double(cpu.tv_sec) + double(cpu.tv_nsec) / 1e9,
        .uptime_seconds = double(system.uptime),
        .memory_kib = snapshot.host.total_memory_kib,
        .max_memory_kib = 0,
        .vcpus = snapshot.host.nr_cpus,
        .vbds = {},
        .vifs = {},
    });
    for (auto& entry : entries) {
        DomainStats stats{
            .domid = entry->domid,
            .name = entry->name,
            .state = "?",
            .cpu_seconds = 0,
            .uptime_seconds = 0,
            .memory_kib = std::uint64_t(entry->spec.memory_mib) * 1024,
            .max_memory_kib = std::uint64_t(entry->spec.maxmem_mib) * 1024,
            .vcpus = entry->spec.vcpus,
            .vbds = {},
            .vifs = {},
        };
        auto info = json_request(run_dir_.control_socket(entry->domid), {{"op", "info"}},
                                 std::chrono::seconds(2));
        if (!info || !apply_monitor_info(*info, stats)) {
            std::lock_guard lock(mutex_);
            if (entry->exit_kind == "crash") stats.state = "c";  // its monitor died with it
        }
        snapshot.domains.push_back(std::move(stats));
    }
    // Domain-0 holds what the domains do not (as xl shows a dom0 that ballooned down).
    std::uint64_t guests = 0;
    for (std::size_t i = 1; i < snapshot.domains.size(); ++i)
        guests += snapshot.domains[i].memory_kib;
    snapshot.domains[0].memory_kib -= std::min(guests, snapshot.domains[0].memory_kib);
    return snapshot;
}

Result<nlohmann::json> Daemon::list() {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& domain : collect_stats().domains)
        rows.push_back({{"domid", domain.domid},
                        {"name", domain.name},
                        {"memory_mib", domain.memory_kib / 1024},
                        {"vcpus", domain.vcpus},
                        {"state", domain.state},
                        {"cpu_seconds", domain.cpu_seconds},
                        {"uptime_seconds", domain.uptime_seconds},
                        {"vifs", domain.vifs}});  // packets, bytes, drops, notifications
    // A save or migration running now: its latest progress (migration_progress.hpp).
    for (auto& row : rows)
        if (auto progress = progress_.of(row["name"].get<std::string>()); !progress.is_null())
            row["progress"] = std::move(progress);
    return nlohmann::json{{"domains", rows}};
}

std::string Daemon::metrics_text() {
    StatsSnapshot stats = collect_stats();
    DaemonHealth health{
        .uptime_seconds = double(std::time(nullptr)) - started_unix_,
        .requests = requests_.load(std::memory_order_relaxed),
        .request_errors = request_errors_.load(std::memory_order_relaxed),
        .store_restarts = store_keeper_ ? store_keeper_->restarts() : 0,
        .store_up = bool(store_->read("/local")),
    };
    return prometheus_text(stats, health);
}

}  // namespace domus::toolstack
