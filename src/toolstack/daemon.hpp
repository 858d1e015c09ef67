// Daemon: domusd, the Domain 0 toolstack. Owns the domain registry, starts and stops
// domain monitors (domus-vmm), writes the domains' standard store nodes, applies
// on_poweroff/on_reboot/on_crash, and answers the CLI (protocol.hpp). Domains outlive
// it: a restarted daemon finds them again through their records and control sockets.
//
// Threads: one per CLI connection, one watcher per domain (waiting for its monitor's
// exit event); the registry is guarded by mutex_.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/fd.hpp"
#include "base/result.hpp"
#include "config/vif_config.hpp"
#include "migration/stream_records.hpp"
#include "store/client.hpp"
#include "toolstack/cgroup.hpp"
#include "toolstack/domain_stats.hpp"
#include "toolstack/migration_progress.hpp"
#include "toolstack/monitor_pool.hpp"
#include "toolstack/run_dir.hpp"
#include "toolstack/snapshot_journal.hpp"
#include "toolstack/store_keeper.hpp"
#include "toolstack/xl_config.hpp"

namespace domus::toolstack {

class MonitorFiles;

// The host memory domains may commit (daemon_memory.cpp): by default the host's RAM
// less a reserve for Domain 0 (an eighth, at least 512 MiB).
struct MemoryBudget {
    std::uint64_t domains_mib = 0;
    bool allow_overcommit = false;
    static std::uint64_t default_domains_mib();
};

// domusd's settings (its command line, or its options file).
struct DaemonOptions {
    std::string cgroup_parent;  // where under the cpu cgroup hierarchy domains' groups go
    MemoryBudget memory;
    unsigned monitor_pool = 2;  // warm monitors kept ready (monitor_pool.hpp); 0: none
    // Domain N's monitor runs as user and group `monitor_user_base + N` once its domain
    // is built (docs/sandbox.md); 0 leaves monitors root.
    std::uint32_t monitor_user_base = kDefaultMonitorUserBase;
    static constexpr std::uint32_t kDefaultMonitorUserBase = 0x6D000000;
};

// A restore's "disk_moves" ({source path: copy path}, from migrate-receive --copy-disks)
// applied to the spec's disks (daemon_disk_copy.cpp).
Result<void> apply_disk_moves(DomainSpec& spec, const nlohmann::json& request);

class Daemon {
public:
    // Takes the run directory's lock (a second daemon fails here), makes sure the store
    // daemon runs, and recovers the domains a previous daemon left running.
    static Result<std::unique_ptr<Daemon>> start(RunDir run_dir, DaemonOptions options);
    // Accepts CLI connections until `stop_fd` becomes readable.
    void serve(int stop_fd);

    // Every domain's figures now (asks each monitor), Domain-0 first (daemon_stats.cpp).
    StatsSnapshot collect_stats();
    // The same, and domusd's health, in Prometheus's text format.
    std::string metrics_text();
    // Where the metrics endpoint listens, for `domus info` (set before serve()).
    void announce_metrics(std::string address) { metrics_address_ = std::move(address); }

private:
    struct Entry {
        std::uint16_t domid = 0;
        std::string name;
        std::string uuid;
        DomainSpec spec;
        pid_t pid = 0;
        double created_unix = 0;
        bool creating = true;                // reserved while the monitor starts
        bool preserved = false;              // on_* = preserve: kept until `destroy`
        std::string exit_kind;               // set once the domain ended
        bool gone = false;                   // destroyed and forgotten (guarded by mutex_)
        std::mutex devices_mutex;            // one device change (hot-plug, snapshot) at a time
        std::optional<DomainCgroup> cgroup;  // its vCPUs' (daemon_sched.cpp)
    };

    Daemon(RunDir run_dir, Fd lock, store::Client store);
    Result<void> ensure_store_daemon();
    void recover();
    void client_thread(Fd fd);
    // `progress`: where a save's, restore's or migration's events go before the reply
    // (the request's connection, when it asked with "progress": true). `stream`: a
    // descriptor passed with the request (restore's incoming migration).
    nlohmann::json handle(const nlohmann::json& request, const ProgressSink& progress = {},
                          Fd stream = Fd());

    Result<nlohmann::json> create(const nlohmann::json& request);
    // `restore_file`: a saved image the monitor makes the domain from (it starts paused).
    // `incoming`: a migration's destination, built paused and filled by a stream later.
    Result<std::uint16_t> create_from_spec(const DomainSpec& spec, std::optional<std::string> uuid,
                                           const std::string& restore_file = {},
                                           bool incoming = false);
    Result<void> write_store_nodes(const Entry& entry);
    void remove_store_nodes(const Entry& entry);
    Result<nlohmann::json> list();
    Result<nlohmann::json> info();
    Result<nlohmann::json> simple_op(const nlohmann::json& request);  // pause, unpause, destroy
    Result<nlohmann::json> shutdown(const nlohmann::json& request, const char* how);
    Result<std::shared_ptr<Entry>> find(const nlohmann::json& request);
    // Devices of running domains (daemon_devices.cpp).
    // `files`: what the monitor must open for it (it opens no paths: monitor_files.hpp).
    // A refused disk lock comes back with its holder named here, where /proc is visible.
    Result<nlohmann::json> device_request(const Entry& entry, const nlohmann::json& request,
                                          const MonitorFiles* files = nullptr);
    Result<nlohmann::json> block_attach(const nlohmann::json& request);
    Result<nlohmann::json> block_detach(const nlohmann::json& request);
    Result<nlohmann::json> block_list(const nlohmann::json& request);
    // vif hot-plug (daemon_network.cpp).
    Result<nlohmann::json> network_attach(const nlohmann::json& request);
    Result<nlohmann::json> network_detach(const nlohmann::json& request);
    Result<nlohmann::json> network_list(const nlohmann::json& request);
    // Rate limits of running domains (daemon_rates.cpp).
    Result<nlohmann::json> vif_rate(const nlohmann::json& request);
    Result<nlohmann::json> block_rate(const nlohmann::json& request);
    // vCPU hot-plug (daemon_vcpus.cpp): `vcpu-set`, and the availability nodes it writes.
    Result<nlohmann::json> vcpu_set(const nlohmann::json& request);
    Result<void> write_vcpu_availability(std::uint16_t domid, std::uint32_t online,
                                         std::uint32_t maxvcpus);
    Result<nlohmann::json> snapshot_create(const nlohmann::json& request);
    Result<nlohmann::json> snapshot_list(const nlohmann::json& request);
    Result<nlohmann::json> snapshot_revert(const nlohmann::json& request);
    // daemon_snapshot_delete.cpp: the delete, and its finish (also after a restart).
    Result<nlohmann::json> snapshot_delete(const nlohmann::json& request);
    Result<nlohmann::json> finish_delete(Entry& entry, const SnapshotIntent& intent);
    // Snapshot operations, crash-safe through their intent (snapshot_journal.hpp).
    std::string snapshot_intent_path(const Entry& entry) const;
    Result<nlohmann::json> switch_disks(Entry& entry, const SnapshotIntent& intent);
    void finish_snapshot(Entry& entry, const SnapshotIntent& intent);
    void undo_snapshot(Entry& entry, const SnapshotIntent& intent);
    void recover_snapshot(Entry& entry);
    // Memory (daemon_memory.cpp): xl mem-set and mem-max, the overcommit check (callers
    // hold mutex_; `except`: a domain whose own target is being replaced) and xl's
    // free_memory.
    Result<nlohmann::json> mem_set(const nlohmann::json& request);
    Result<nlohmann::json> mem_max(const nlohmann::json& request);
    Result<void> check_budget_locked(std::uint64_t new_kib, std::uint16_t except) const;
    std::uint64_t free_memory_mib();
    // The credit scheduler (daemon_sched.cpp): weight, cap and pinning applied to a
    // started or recovered domain's vCPU threads, the group removed when it ends, and
    // the sched-credit, vcpu-pin and vcpu-list requests.
    // `info`: the monitor's info reply when the caller has it already (one round trip less).
    Result<void> apply_sched(const std::shared_ptr<Entry>& entry, bool just_started,
                             const nlohmann::json& info = nlohmann::json::object());
    void remove_stale_cgroups();  // after recover(): groups of domains that are gone
    void remove_sched(std::uint16_t domid, const std::optional<DomainCgroup>& cgroup);
    Result<nlohmann::json> sched_credit(const nlohmann::json& request);
    Result<nlohmann::json> vcpu_pin(const nlohmann::json& request);
    Result<nlohmann::json> vcpu_list(const nlohmann::json& request);
    // Save, restore and migration (daemon_migrate.cpp).
    Result<nlohmann::json> save(const nlohmann::json& request, const ProgressSink& progress = {});
    // With `stream`: a migration's destination (migrate-receive passed its stdin, past the
    // stream's header and configuration, which are in the request).
    Result<nlohmann::json> restore(const nlohmann::json& request, const ProgressSink& progress = {},
                                   Fd stream = Fd());
    Result<nlohmann::json> restore_incoming(const nlohmann::json& request, Fd stream,
                                            MigrationProgress::Operation& operation);
    Result<void> start_restored(std::uint16_t domid, const migration::KeyValues& subtree,
                                bool paused);
    Result<nlohmann::json> migrate(const nlohmann::json& request,
                                   const ProgressSink& progress = {});
    Result<nlohmann::json> migrate_cold(std::shared_ptr<Entry> entry, const std::string& command,
                                        MigrationProgress::Operation& operation);
    Result<void> suspend_guest(const Entry& entry, std::chrono::milliseconds limit);
    // `live`: the pre-copy's options (an object), or null for a suspended domain.
    // The monitor's progress events go to `operation`.
    Result<nlohmann::json> stream_domain(const Entry& entry, int fd, const nlohmann::json& live,
                                         MigrationProgress::Operation& operation);
    void resume_after_failure(const Entry& entry);
    // --copy-disks (daemon_disk_copy.cpp): the domain's disk files, flushed, as a disk
    // stream into `fd`; the bytes written.
    Result<std::uint64_t> send_domain_disks(const Entry& entry, int fd,
                                            MigrationProgress::Operation& operation);
    void watch(std::shared_ptr<Entry> entry);
    void domain_ended(std::shared_ptr<Entry> entry, const std::string& kind);
    void destroy(std::shared_ptr<Entry> entry);
    void forget(const Entry& entry);
    // The domain's vifs as its monitor serves them (MACs settled, host names by ID).
    std::vector<config::VifConfig> vif_configs(const Entry& entry) const;
    void save_record(const Entry& entry);

    RunDir run_dir_;
    Fd lock_;
    std::unique_ptr<store::Client> store_;
    std::unique_ptr<StoreKeeper> store_keeper_;  // restarts the store if it dies
    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<std::uint16_t, std::shared_ptr<Entry>> domains_;
    std::uint16_t next_domid_ = 1;
    double started_unix_ = 0;
    std::string cgroup_parent_;
    Result<CpuCgroupMount> cgroup_mount_ = make_error("not detected");
    std::string metrics_address_;  // empty: no metrics endpoint
    std::atomic<std::uint64_t> requests_{0};
    std::atomic<std::uint64_t> request_errors_{0};
    MemoryBudget budget_;
    std::uint32_t monitor_user_base_ = 0;
    std::unique_ptr<MonitorPool> monitor_pool_;  // set before the domains are recovered
    MigrationProgress progress_;  // running saves, restores and migrations, for list and info
};

}  // namespace domus::toolstack
