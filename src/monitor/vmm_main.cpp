// domus-vmm: one domain's monitor as a process of its own, started by domusd. It
// builds the domain, serves its control socket, runs it, reports how it ended and
// then waits for the toolstack's "destroy" (so a crashed domain can be preserved).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <thread>

#include "base/deferred_close.hpp"
#include "base/log.hpp"
#include "config/device_specs.hpp"
#include "kvm/kvm.hpp"
#include "monitor/control_server.hpp"
#include "monitor/domain.hpp"
#include "monitor/sandbox.hpp"

namespace {

struct Options {
    domus::config::DomainConfig config;
    std::string name;
    std::string control_socket;
    bool store = false;
    std::string run_dir;
    int ready_fd = -1;
    std::vector<std::string> disks;     // xl DISKSPEC strings
    std::vector<std::string> channels;  // xl CHANNEL_SPEC_STRINGs
    std::vector<std::string> vifs;      // xl VIFSPEC strings
    std::string restore;                // a saved image to make the domain from
    bool restore_checked = false;       // domusd checked it whole just before
    bool incoming = false;              // a migration's destination: the stream comes later
};

// Tells the parent (domusd) on the readiness fd how start-up went, then closes it.
void report(int fd, const std::string& text) {
    if (fd < 0) return;
    std::string line = text + "\n";
    [[maybe_unused]] auto n = ::write(fd, line.data(), line.size());
    ::close(fd);
}

int run(const Options& options) {
    using namespace domus::monitor;
    domus::log::Config::instance().domain_id.store(options.config.domid);
    // Before any thread: capabilities and no_new_privs are per thread (sandbox.hpp).
    if (auto hardened = harden_process("domus-vmm", {options.ready_fd}); !hardened) {
        DOMUS_LOG_ERROR("vmm", "sandbox: {}", hardened.error().message);
        report(options.ready_fd, "error: sandbox: " + hardened.error().message);
        return kStatusMonitorError;
    }
    sigset_t signals;
    sigemptyset(&signals);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGUSR2})
        sigaddset(&signals, s);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    prepare_sandbox();  // the allowlist compiles while the domain is built

    auto kvm = domus::kvm::System::open();
    if (!kvm) {
        DOMUS_LOG_ERROR("vmm", "{}", kvm.error().message);
        report(options.ready_fd, "error: " + kvm.error().message);
        return kStatusMonitorError;
    }
    auto config = options.config;
    if (options.store) config.store_run_dir = options.run_dir;
    if (auto added =
            domus::config::add_devices(config, options.disks, options.channels, options.vifs);
        !added) {
        report(options.ready_fd, "error: " + added.error().message);
        return kStatusMonitorError;
    }
    config.console_output_fd = -1;  // console output goes to attached clients and the history
    // A restore reads (and checks) the whole image before anything is built.
    std::unique_ptr<RestoreSource> restore;
    if (!options.restore.empty()) {
        auto opened = RestoreSource::open(options.restore, options.restore_checked);
        if (!opened) {
            DOMUS_LOG_ERROR("vmm", "{}", opened.error().message);
            report(options.ready_fd, "error: " + opened.error().message);
            return kStatusMonitorError;
        }
        restore = std::move(opened).value();
        const auto& info = restore->info();
        std::uint64_t ram_mib = std::max(config.memory_mib, config.maxmem_mib);
        if (info.vcpus != config.vcpus ||
            info.nr_pfns * 4096 != ((ram_mib << 20) + (2u << 20) - 1) / (2u << 20) * (2u << 20)) {
            std::string why = fmt::format(
                "the image is of a domain with {} vCPUs and {} MiB of RAM, not {} and {}",
                info.vcpus, info.nr_pfns / 256, config.vcpus, ram_mib);
            DOMUS_LOG_ERROR("vmm", "{}", why);
            report(options.ready_fd, "error: " + why);
            return kStatusMonitorError;
        }
    }
    // A migration's destination opens its disks only at the end (the source holds them
    // until then), so a missing one is refused now rather than after the whole copy.
    if (options.incoming)
        for (const auto& disk : config.disks)
            if (::access(disk.target.c_str(), disk.read_only ? R_OK : R_OK | W_OK) != 0) {
                std::string why = fmt::format("disk {}: {}", disk.target, std::strerror(errno));
                DOMUS_LOG_ERROR("vmm", "{}", why);
                report(options.ready_fd, "error: " + why);
                return kStatusMonitorError;
            }
    auto domain = Domain::create(*kvm, config, nullptr, restore.get(), options.incoming);
    restore.reset();
    if (!domain) {
        DOMUS_LOG_ERROR("vmm", "{}", domain.error().message);
        report(options.ready_fd, "error: " + domain.error().message);
        return kStatusMonitorError;
    }
    DomainIdentity identity{config.domid, options.name, config.memory_mib, config.vcpus};
    auto server =
        ControlServer::listen(options.control_socket, **domain, identity, options.incoming);
    if (!server) {
        DOMUS_LOG_ERROR("vmm", "{}", server.error().message);
        report(options.ready_fd, "error: " + server.error().message);
        return kStatusMonitorError;
    }
    // The domain is built: from here on only the steady state's system calls, on the
    // device and control threads that exist now and on the vCPU threads to come.
    if (auto sandboxed = enter_sandbox("domus-vmm"); !sandboxed) {
        DOMUS_LOG_ERROR("vmm", "sandbox: {}", sandboxed.error().message);
        report(options.ready_fd, "error: sandbox: " + sandboxed.error().message);
        return kStatusMonitorError;
    }
    std::thread watcher([&] {
        int signal = 0;
        if (sigwait(&signals, &signal) == 0 && signal != SIGUSR2) {
            (*domain)->stop({ExitKind::interrupted, 0, "stopped by a signal"});
            (*server)->stop_waiting();
        }
    });
    // Ready once the vCPU threads run: domusd places them (cgroup, pinning) right away,
    // by the info reply that comes with the report. An incoming domain is ready before
    // that: its vCPUs start once the stream is in (`receive` on the control socket), and
    // domusd places them then.
    auto ready = [&] { report(options.ready_fd, "ready " + (*server)->info()); };
    if (options.incoming) {
        ready();
        (void)(*domain)->wait_received();
    }
    DomainExit exit = (*domain)->run(options.incoming ? std::function<void()>() : ready);
    DOMUS_LOG_INFO("vmm", "domain ended: {} {}", exit_kind_name(exit.kind), exit.detail);
    (*server)->domain_exited(exit);
    (*server)->wait_for_destroy();
    pthread_kill(watcher.native_handle(), SIGUSR2);
    watcher.join();
    // Everything but the VM goes now (images unlocked, sockets closed); the VM's own
    // teardown takes milliseconds of RCU grace periods, which domusd need not wait for.
    domus::Fd vm(::dup((*domain)->vm().fd()));
    server->reset();
    domain->reset();
    if (vm) {
        if (auto handed = domus::close_in_background(std::move(vm)); !handed)
            DOMUS_LOG_WARN("vmm", "VM teardown in the foreground: {}", handed.error().message);
    }
    return exit_status(exit);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"domus-vmm: the monitor of one Domus domain (started by domusd)"};
    Options options;
    app.add_option("kernel", options.config.kernel, "Guest image (ELF64)")->required();
    app.add_option("--name", options.name, "Domain name")->required();
    app.add_option("--domid", options.config.domid, "Domain ID")
        ->required()
        ->check(CLI::Range(1, 0x7FEF));
    app.add_option("-m,--memory", options.config.memory_mib, "Memory in MiB")
        ->check(CLI::Range(4, 64 * 1024));
    app.add_option("--maxmem", options.config.maxmem_mib, "Guest RAM (balloon ceiling) in MiB")
        ->check(CLI::Range(4, 64 * 1024));
    app.add_option("--vcpus", options.config.vcpus, "vCPUs")->check(CLI::Range(1, 64));
    app.add_option("--cmdline", options.config.cmdline, "Guest command line");
    app.add_option("--control-socket", options.control_socket, "Control socket path")->required();
    app.add_option("--run-dir", options.run_dir, "Run directory (for the store)");
    app.add_flag("--store", options.store, "Attach the domain to the store daemon of --run-dir");
    app.add_option("--ready-fd", options.ready_fd, "Report 'ready' or 'error: ...' on this fd");
    app.add_option("--disk", options.disks, "PV block device (xl DISKSPEC)");
    app.add_option("--channel", options.channels, "PV channel (xl CHANNEL_SPEC_STRING)");
    app.add_option("--vif", options.vifs, "PV network interface (xl VIFSPEC)");
    app.add_option("--restore", options.restore, "Make the domain from this saved image (paused)");
    app.add_flag("--restore-checked", options.restore_checked,
                 "The image was checked whole just before (by domusd)");
    app.add_flag("--incoming", options.incoming,
                 "A migration's destination: built paused, filled by the control socket's "
                 "'receive'");
    CLI11_PARSE(app, argc, argv);
    return run(options);
}
