// domus-vmm: one domain's monitor as a process of its own, started by domusd. It
// builds the domain, serves its control socket, runs it, reports how it ended and
// then waits for the toolstack's "destroy" (so a crashed domain can be preserved).
// Started with --warm (or forked by the pool's parent, --warm-parent), it is one of
// domusd's pooled monitors: it gets ready for any domain, then waits to be handed one
// (warm_start.hpp).
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "base/deferred_close.hpp"
#include "base/log.hpp"
#include "base/monitor_pool_protocol.hpp"
#include "base/unix_socket.hpp"
#include "config/device_specs.hpp"
#include "kvm/cpuid_cache.hpp"
#include "kvm/kvm.hpp"
#include "monitor/control_server.hpp"
#include "monitor/domain.hpp"
#include "monitor/sandbox.hpp"
#include "monitor/warm_start.hpp"

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
    bool no_host_paths = false;         // under domusd: files come passed (sandbox.hpp)
    std::optional<uid_t> user;          // ... and the user to run as, once built
};

// Tells the parent (domusd) on the readiness fd how start-up went, then closes it.
void report(int fd, const std::string& text) {
    if (fd < 0) return;
    std::string line = text + "\n";
    [[maybe_unused]] auto n = ::write(fd, line.data(), line.size());
    ::close(fd);
}

// The stop signals, blocked in every thread: the watcher thread takes them (sigwait).
sigset_t stop_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGUSR2})
        sigaddset(&signals, s);
    return signals;
}

// What every start does before it knows its domain, in this order: before any thread,
// the process hardened (capabilities and no_new_privs are per thread: sandbox.hpp) and
// the stop signals blocked; then the allowlist's compilation started (it overlaps what
// follows) and /dev/kvm opened and queried.
domus::Result<domus::kvm::System> get_ready(int keep_fd, domus::monitor::FileAccess files,
                                            std::optional<domus::kvm::System> opened = {},
                                            const std::string& run_dir = {}) {
    using namespace domus::monitor;
    int kvm_fd = opened ? opened->fd() : -1;  // a forked monitor's, from the pool's parent
    if (auto hardened = harden_process("domus-vmm", {keep_fd, kvm_fd}, files); !hardened)
        return domus::make_error("sandbox: {}", hardened.error().message);
    sigset_t signals = stop_signals();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    if (opened) return std::move(*opened);
    if (run_dir.empty()) return domus::kvm::System::open();
    return domus::kvm::System::open("/dev/kvm", run_dir + "/" + domus::kvm::kCpuidCacheName);
}

int run(const Options& options, domus::Result<domus::kvm::System> kvm,
        std::optional<domus::kvm::Vm> prepared_vm = {}) {
    using namespace domus::monitor;
    domus::log::Config::instance().domain_id.store(options.config.domid);
    sigset_t signals = stop_signals();
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
    auto domain = Domain::create(*kvm, config, nullptr, restore.get(), options.incoming,
                                 std::move(prepared_vm));
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
    if (auto sandboxed = enter_sandbox(
            "domus-vmm", options.no_host_paths ? FileAccess::passed : FileAccess::paths,
            options.user);
        !sandboxed) {
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

// Parses a monitor's command line into `options`: -1 when it is good, otherwise the
// exit status (usage errors printed, as CLI11 does).
int parse(int argc, char** argv, Options& options) {
    CLI::App app{"domus-vmm: the monitor of one Domus domain (started by domusd)"};
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
    app.add_flag("--no-host-paths", options.no_host_paths,
                 "Once the domain is built, open no file by path: every request brings its "
                 "files (domusd's monitors)");
    app.add_option("--user", options.user,
                   "Once the domain is built, run as this user and group, with no "
                   "capabilities (domusd's monitors; needs --no-host-paths)")
        ->needs("--no-host-paths");
    app.add_flag("--incoming", options.incoming,
                 "A migration's destination: built paused, filled by the control socket's "
                 "'receive'");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    return -1;
}

// A pooled monitor (--warm, or forked by the pool's parent with the parent's /dev/kvm as
// `opened`): ready for any domain, then waits for domusd to hand it one, and runs that
// one as if started for it.
int run_warm(std::span<char> command_line, std::optional<domus::kvm::System> opened = {}) {
    using namespace domus::monitor;
    ::prctl(PR_SET_NAME, "domus-vmm-warm", 0, 0, 0);  // not a domain's monitor yet
    // Its start runs only on a CPU nothing else wants: it is not to slow the start of
    // the domain that just took its predecessor (wait_for_domain() leaves SCHED_IDLE).
    sched_param priority{};
    ::sched_setscheduler(0, SCHED_IDLE, &priority);
    // Only domusd keeps a pool, and its monitors open no paths once built.
    auto kvm = get_ready(kPoolSocketFd, FileAccess::passed, std::move(opened));
    if (!kvm) {
        DOMUS_LOG_ERROR("vmm", "warm start: {}", kvm.error().message);
        return kStatusMonitorError;  // the pool sees the socket close before "warm"
    }
    // The VM too: only its memory and vCPUs depend on the domain.
    auto vm = domus::kvm::Vm::create(*kvm);
    if (!vm) {
        DOMUS_LOG_ERROR("vmm", "warm start: {}", vm.error().message);
        return kStatusMonitorError;
    }
    auto domain = wait_for_domain(kPoolSocketFd, stop_signals());
    if (!domain) {
        DOMUS_LOG_ERROR("vmm", "warm start: {}", domain.error().message);
        return kStatusMonitorError;
    }
    if (!*domain) return 0;
    auto& argv = **domain;
    Options options;
    std::vector<char*> pointers;
    for (auto& arg : argv)
        pointers.push_back(arg.data());
    if (int status = parse(int(pointers.size()), pointers.data(), options); status >= 0) {
        report(options.ready_fd, "error: a bad command line from the pool");
        return status;
    }
    if (!sandbox_enabled()) warn_unsandboxed("domus-vmm");
    if (auto taken = take_command_line(command_line, argv); !taken)
        DOMUS_LOG_WARN("vmm", "ps shows the pool's command line: {}", taken.error().message);
    return run(options, std::move(kvm), std::move(vm).value());
}

// The pool's parent (--warm-parent): what every pooled monitor's start does alike, done
// once (exec and linking, /dev/kvm opened and queried, the allowlist compiled), then a
// fork for each monitor domusd asks for (base/monitor_pool_protocol.hpp). It has no
// thread, so that a fork takes over all of its state; a forked monitor carries on as
// run_warm().
int run_warm_parent(std::span<char> command_line) {
    using namespace domus::monitor;
    ::prctl(PR_SET_NAME, "domus-vmm-pool", 0, 0, 0);
    sched_param priority{};
    ::sched_setscheduler(0, SCHED_IDLE, &priority);  // as its monitors' starts
    ::signal(SIGCHLD, SIG_IGN);  // its monitors report to domusd; the kernel reaps them
    auto failed = [](const std::string& why) {
        DOMUS_LOG_ERROR("vmm", "pool parent: {}", why);
        return kStatusMonitorError;  // domusd sees the socket close and starts monitors itself
    };
    if (auto hardened = harden_process("domus-vmm-pool", {kPoolSocketFd}); !hardened)
        return failed(hardened.error().message);
    auto kvm = domus::kvm::System::open();
    if (!kvm) return failed(kvm.error().message);
    for (;;) {
        char request[16];
        std::vector<domus::Fd> fds;
        auto received = domus::receive_with_fds(kPoolSocketFd, request, 1, fds);
        if (!received) return failed(received.error().message);
        if (received->bytes == 0) return 0;  // domusd closed its end
        pid_t child = 0;
        if (std::string_view(request, received->bytes) == domus::kForkRequest && fds.size() == 1 &&
            !received->cut) {
            child = ::fork();
            if (child == 0) {
                // The monitor's own socket becomes its fd 3, in place of the parent's.
                if (::dup2(fds[0].get(), kPoolSocketFd) < 0) ::_exit(kStatusMonitorError);
                fds.clear();
                ::signal(SIGCHLD, SIG_DFL);
                ::setsid();  // as a monitor domusd starts itself: a session of its own
                return run_warm(command_line, std::move(*kvm));
            }
            if (child < 0) {
                DOMUS_LOG_WARN("vmm", "pool parent: fork: {}", std::strerror(errno));
                child = 0;
            }
        }
        fds.clear();
        if (!domus::send_all(kPoolSocketFd, {reinterpret_cast<const char*>(&child), sizeof child}))
            return failed("cannot answer domusd");
    }
}

}  // namespace

int main(int argc, char** argv) {
    auto pooled = [&](const char* const(&arguments)[2]) {
        return argc == 5 && std::strcmp(argv[1], arguments[0]) == 0 &&
               std::strcmp(argv[2], arguments[1]) == 0;
    };
    // The title space (arguments lie back to back) that a pooled monitor's domain takes.
    auto title = [&] {
        return std::span<char>(argv[0], argv[argc - 1] + std::strlen(argv[argc - 1]) + 1);
    };
    if (pooled(domus::kWarmArguments)) return run_warm(title());
    if (pooled(domus::kWarmParentArguments)) return run_warm_parent(title());
    Options options;
    if (int status = parse(argc, argv, options); status >= 0) return status;
    auto files = options.no_host_paths ? domus::monitor::FileAccess::passed
                                       : domus::monitor::FileAccess::paths;
    return run(options, get_ready(options.ready_fd, files, {}, options.run_dir));
}
