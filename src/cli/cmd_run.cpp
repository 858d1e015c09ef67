// `domus run KERNEL [-m MiB] [--vcpus N] [--cmdline TEXT] [--emulated-disk PATH] [--stats]`:
// the embedded, daemon-less way to run one domain. The exit status tells how it ended.
#include "cli/cmd_run.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <thread>

#include "base/cycle_clock.hpp"
#include "base/deferred_close.hpp"
#include "base/log.hpp"
#include "config/device_specs.hpp"
#include "kvm/cpuid_cache.hpp"
#include "kvm/kvm.hpp"
#include "monitor/domain.hpp"
#include "monitor/guest_clock.hpp"
#include "monitor/sandbox.hpp"
#include "toolstack/run_dir.hpp"

namespace domus::cli {
namespace {

struct RunOptions {
    config::DomainConfig config;
    std::vector<std::string> disks;     // xl DISKSPEC strings
    std::vector<std::string> channels;  // xl CHANNEL_SPEC_STRINGs
    std::vector<std::string> vifs;      // xl VIFSPEC strings
    bool stats = false;
    bool no_input = false;
};

constexpr const char* kStatusHelp =
    "Exit status: the guest's poweroff code (0-199); 200 reboot; 201 crash; 202 watchdog;\n"
    "203 suspend; 210 monitor error (bad image, bad option, KVM failure); 211 interrupted.";

// Sums the "Key: N kB" lines of a /proc file for the given keys, in KiB.
long proc_kib(const char* path, std::initializer_list<const char*> keys) {
    FILE* file = std::fopen(path, "r");
    if (!file) return 0;
    char line[256];
    long total = 0;
    while (std::fgets(line, sizeof(line), file)) {
        for (const char* key : keys) {
            std::size_t length = std::strlen(key);
            long value = 0;
            if (std::strncmp(line, key, length) == 0 && line[length] == ':' &&
                std::sscanf(line + length + 1, "%ld", &value) == 1)
                total += value;
        }
    }
    std::fclose(file);
    return total;
}

// Memory the monitor itself holds: its resident set minus the guest's RAM (the memfd,
// counted as shared memory), and the part of it no other process shares (shared
// libraries are resident once for all monitors).
double monitor_overhead_mib() {
    long shmem = proc_kib("/proc/self/status", {"RssShmem"});
    return double(proc_kib("/proc/self/status", {"VmRSS"}) - shmem) / 1024.0;
}

double monitor_private_mib() {
    long shmem = proc_kib("/proc/self/status", {"RssShmem"});
    return double(proc_kib("/proc/self/smaps_rollup", {"Private_Clean", "Private_Dirty"}) - shmem) /
           1024.0;
}

// Where the run's time went, step by step: each mark's distance from the one before
// (`step_<name>_us`), and the first mark's TSC, from which a caller that noted the TSC
// when it spawned us gets process start-up and dynamic linking.
std::string timeline_report(const monitor::Timeline& timeline) {
    auto marks = timeline.marks();
    if (marks.empty()) return {};
    double us_per_cycle = CycleClock::ns_per_cycle() / 1000.0;
    std::string report = fmt::format(" monitor_start_tsc={}", marks[0].tsc);
    for (std::size_t i = 1; i < marks.size(); ++i)
        report += fmt::format(" step_{}_us={:.1f}", marks[i].step,
                              double(marks[i].tsc - marks[i - 1].tsc) * us_per_cycle);
    return report;
}

int run_domain(const RunOptions& options) {
    monitor::Timeline timeline;
    timeline.mark("monitor_started");
    std::uint64_t start_ns = monitor::host_monotonic_ns();
    // The embedded monitor is sandboxed as domus-vmm is (monitor/sandbox.hpp): hardened
    // before any thread, the allowlist once the domain is built.
    if (auto hardened = monitor::harden_process("domus run", {}); !hardened) {
        std::fprintf(stderr, "domus: sandbox: %s\n", hardened.error().message.c_str());
        return monitor::kStatusMonitorError;
    }
    // SIGINT/SIGTERM/SIGHUP end the domain cleanly: blocked in every thread (so before
    // any is created) and turned into stop() by a watcher; SIGUSR2 releases the watcher.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    for (int signal : {SIGINT, SIGTERM, SIGHUP, SIGUSR2})
        sigaddset(&stop_signals, signal);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    timeline.mark("hardened");
    // KVM's CPUID answer is kept in the toolstack's run directory (made here if need be,
    // as domusd makes it): not asked again at each start.
    std::string run_dir = toolstack::RunDir::from_environment().root;
    ::mkdir(run_dir.c_str(), 0700);
    auto kvm = kvm::System::open("/dev/kvm", run_dir + "/" + kvm::kCpuidCacheName);
    if (!kvm) {
        std::fprintf(stderr, "domus: %s\n", kvm.error().message.c_str());
        return monitor::kStatusMonitorError;
    }
    timeline.mark("kvm_opened");
    auto config = options.config;
    if (auto added = config::add_devices(config, options.disks, options.channels, options.vifs);
        !added) {
        std::fprintf(stderr, "domus: %s\n", added.error().message.c_str());
        return monitor::kStatusMonitorError;
    }
    config.console_input_fd = options.no_input ? -1 : STDIN_FILENO;
    auto domain = monitor::Domain::create(*kvm, config, &timeline);
    if (!domain) {
        std::fprintf(stderr, "domus: %s\n", domain.error().message.c_str());
        return monitor::kStatusMonitorError;
    }
    auto& dom = **domain;
    if (auto sandboxed = monitor::enter_sandbox("domus run", monitor::FileAccess::paths);
        !sandboxed) {
        std::fprintf(stderr, "domus: sandbox: %s\n", sandboxed.error().message.c_str());
        return monitor::kStatusMonitorError;
    }
    timeline.mark("sandbox_entered");
    std::thread watcher([&] {
        int signal = 0;
        if (sigwait(&stop_signals, &signal) == 0 && signal != SIGUSR2)
            dom.stop({monitor::ExitKind::interrupted, 0,
                      fmt::format("interrupted by signal {}", signal)});
    });
    monitor::DomainExit exit = dom.run();
    pthread_kill(watcher.native_handle(), SIGUSR2);
    watcher.join();

    if (exit.kind == monitor::ExitKind::crash) {
        std::fprintf(stderr, "domus: domain crashed: %s\n", exit.detail.c_str());
    } else if (exit.kind == monitor::ExitKind::error ||
               exit.kind == monitor::ExitKind::interrupted) {
        std::fprintf(stderr, "domus: %s\n", exit.detail.c_str());
    }
    std::string report;  // --stats: printed once the domain is gone (its teardown timed)
    if (options.stats) {
        auto s = dom.stats();
        double seconds = double(monitor::host_monotonic_ns() - start_ns) / 1e9;
        std::string edisk;
        if (s.emulated_disk) {
            // edisk_exits_per_mib: every exit the disk caused (register and data ports)
            // over the MiB that went through its data port; the baseline for PV block.
            std::uint64_t disk_exits = s.edisk.register_exits + s.edisk.data_exits;
            double mib = double(s.edisk.data_bytes) / (1024.0 * 1024.0);
            edisk = fmt::format(
                " edisk_register_exits={} edisk_data_exits={} edisk_data_bytes={} "
                "edisk_commands={} edisk_errors={} edisk_exits_per_mib={:.1f}",
                s.edisk.register_exits, s.edisk.data_exits, s.edisk.data_bytes, s.edisk.commands,
                s.edisk.errors, mib > 0 ? double(disk_exits) / mib : 0.0);
        }
        // PV disks: every exit of the domain (an upper bound for what the disk I/O
        // caused: doorbells to the backend do not exit) over the MiB they moved.
        backends::BlkStats blk;
        for (const auto& disk : dom.disk_stats())
            blk = backends::combine(blk, disk.blk);
        if (blk.requests) {
            std::uint64_t bytes = blk.bytes_read + blk.bytes_written;
            double mib = double(bytes) / (1024.0 * 1024.0);
            // Where the backend's time went: passes are doorbell wakeups, polled requests
            // came without one; inline transfers were page-cache hits done in the pass.
            edisk += fmt::format(
                " blk_requests={} blk_bad_requests={} blk_io_errors={} blk_bytes={} "
                "blk_exits_per_mib={:.2f} blk_notifications={} blk_passes={} "
                "blk_polled_requests={} blk_inline_transfers={} blk_queued_transfers={} "
                "blk_unaligned_transfers={} blk_image_transfers={} blk_max_in_flight={}",
                blk.requests, blk.bad_requests, blk.io_errors, bytes,
                mib > 0 ? double(s.exits) / mib : 0.0, blk.notifications, blk.passes,
                blk.polled_requests, blk.inline_transfers, blk.queued_transfers,
                blk.unaligned_transfers, blk.image_transfers, blk.max_in_flight);
            // The backend's CPU time per request, by stage (BlkStats).
            double us_per_request = CycleClock::ns_per_cycle() / 1000.0 / double(blk.requests);
            edisk += fmt::format(
                " blk_backend_take_us={:.3f} blk_backend_io_us={:.3f} blk_backend_respond_us={:.3f}"
                " blk_backend_notify_us={:.3f} blk_persistent_grants={}",
                double(blk.take_cycles) * us_per_request, double(blk.io_cycles) * us_per_request,
                double(blk.respond_cycles) * us_per_request,
                double(blk.notify_cycles) * us_per_request, blk.persistent_grants);
        }
        // Each vif's counters (TX is from the guest), named by its devid.
        for (const auto& vif : dom.vif_stats())
            edisk += fmt::format(
                " vif{0}_tx_packets={1} vif{0}_tx_bytes={2} vif{0}_rx_packets={3} "
                "vif{0}_rx_bytes={4} vif{0}_errors={5} vif{0}_dropped={6} "
                "vif{0}_notifications={7}",
                vif.devid, vif.net.tx_packets, vif.net.tx_bytes, vif.net.rx_packets,
                vif.net.rx_bytes, vif.net.tx_errors + vif.net.rx_errors, vif.net.tx_dropped,
                vif.net.notifications);
        report = fmt::format(
            "domus-stats: run_seconds={:.6f} exits={} hypercalls={} unknown_hypercalls={} "
            "doorbell_exits={} upcalls={} blocks={} console_bytes={} "
            "console_notifications={} monitor_overhead_mib={:.2f} monitor_private_mib={:.2f} "
            "memory_pages={} memory_refusals={} memory_host_kib={}{}",
            seconds, s.exits, s.hypercalls, s.unknown_hypercalls, s.doorbells, s.upcalls, s.blocks,
            s.console_bytes, s.console_notifications, monitor_overhead_mib(), monitor_private_mib(),
            s.reservation_pages, s.reservation_refusals, s.memory_host_kib, edisk);
    }
    // The VM's own teardown (its last close) takes milliseconds of RCU grace periods on
    // this host and holds nothing anyone waits for: a child does it once we are gone.
    Fd vm(::dup(dom.vm().fd()));
    domain->reset();  // devices, store connection, vCPUs, guest memory
    timeline.mark("domain_destroyed");
    if (options.stats)
        std::fprintf(stderr, "%s%s\n", report.c_str(), timeline_report(timeline).c_str());
    std::fflush(nullptr);
    if (vm) {
        if (auto handed = close_in_background(std::move(vm)); !handed)
            DOMUS_LOG_WARN("run", "VM teardown in the foreground: {}", handed.error().message);
    }
    return monitor::exit_status(exit);
}

}  // namespace

void add_run_command(CLI::App& app, int& status) {
    auto options = std::make_shared<RunOptions>();
    auto* run =
        app.add_subcommand("run", "Boot one domain in the foreground (console on stdin/stdout)");
    run->footer(kStatusHelp);
    run->add_option("kernel", options->config.kernel, "Guest image (ELF64)")->required();
    run->add_option("-m,--memory", options->config.memory_mib, "Memory in MiB")
        ->check(CLI::Range(4, 64 * 1024))
        ->capture_default_str();
    run->add_option("--maxmem", options->config.maxmem_mib,
                    "Guest RAM in MiB the guest may balloon up to (default: --memory)")
        ->check(CLI::Range(4, 64 * 1024));
    run->add_option("--vcpus", options->config.vcpus, "Number of vCPUs")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    run->add_option("--cmdline", options->config.cmdline, "Guest command line");
    run->add_flag("--stats", options->stats,
                  "Print exit and memory statistics to stderr at the end");
    run->add_flag("--no-input", options->no_input, "Do not forward stdin to the guest console");
    run->add_option("--domid", options->config.domid, "Domain ID (for the store)")
        ->check(CLI::Range(1, 0x7FEF))
        ->capture_default_str();
    run->add_option(
        "--disk", options->disks,
        "PV block device, xl DISKSPEC (e.g. 'format=qcow2, vdev=xvda, target=disk.qcow2'); "
        "needs --store-run-dir");
    run->add_option("--channel", options->channels,
                    "PV channel, xl CHANNEL_SPEC_STRING "
                    "(e.g. 'name=org.example.agent,connection=socket,path=/run/agent.sock'); "
                    "needs --store-run-dir");
    run->add_option("--vif", options->vifs,
                    "PV network interface, xl VIFSPEC (e.g. 'mac=00:16:3e:00:00:01,bridge=br0'); "
                    "its host side is the TAP vif<domid>.<devid>; needs --store-run-dir");
    run->add_option("--emulated-disk", options->config.emulated_disk,
                    "Attach a raw image as an emulated ATA PIO disk (ports 0x1F0-0x1F7, 0x3F6)")
        ->check(CLI::ExistingFile);
    run->add_flag("--emulated-disk-ro", options->config.emulated_disk_read_only,
                  "Make the emulated disk read-only (writes fail with ABRT)");
    run->add_option(
        "--store-run-dir", options->config.store_run_dir,
        "Attach the domain to the store daemon (domus-xenstored) of this run directory");
    run->callback([options, &status] { status = run_domain(*options); });
}

}  // namespace domus::cli
