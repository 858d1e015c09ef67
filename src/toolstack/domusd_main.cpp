// domusd: the Domain 0 toolstack daemon. Started by the CLI when it is not running.
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <optional>
#include <thread>

#include "base/log.hpp"
#include "toolstack/daemon.hpp"
#include "toolstack/metrics_server.hpp"

int main(int argc, char** argv) {
    CLI::App app{"domusd: the Domus toolstack daemon"};
    std::string run_dir;
    std::string metrics_listen;
    app.add_option("--run-dir", run_dir, "Run directory (default $DOMUS_RUN_DIR or /run/domus)");
    domus::toolstack::DaemonOptions options;
    app.add_option("--cgroup-parent", options.cgroup_parent,
                   "Cgroup (under the cpu hierarchy) holding the domains' groups (default "
                   "domus for /run/domus, domus-<run dir> for another run directory)");
    options.memory.domains_mib = domus::toolstack::MemoryBudget::default_domains_mib();
    app.add_option("--domain-memory", options.memory.domains_mib,
                   "MiB the domains' memory targets may add up to (default: the host's RAM "
                   "less an eighth, at least 512 MiB, for Domain 0)")
        ->capture_default_str();
    app.add_flag("--memory-overcommit", options.memory.allow_overcommit,
                 "Let the domains' targets add up to more than --domain-memory");
    app.add_option("--monitor-pool", options.monitor_pool,
                   "Warm monitors kept ready for the next create (0: start each one new)")
        ->capture_default_str()
        ->check(CLI::Range(0, 64));
    app.add_option("--monitor-user-base", options.monitor_user_base,
                   "Domain N's monitor runs as user and group BASE+N once its domain is built "
                   "(0: monitors stay root)")
        ->capture_default_str()
        ->check(CLI::Range(std::uint32_t(0), std::uint32_t(0xFFFF0000)));
    app.add_option("--metrics-listen", metrics_listen,
                   "Serve Prometheus metrics at http://ADDR:PORT/metrics (off by default)");
    // Options may also come from a file (`metrics-listen = "127.0.0.1:9100"`,
    // `memory-overcommit = true`), which is how a daemon started by the CLI gets them
    // ($DOMUS_DAEMON_CONFIG).
    app.set_config("--config", "/etc/domus/domusd.conf", "Read options from this TOML file");
    CLI11_PARSE(app, argc, argv);
    std::optional<domus::toolstack::ListenAddress> metrics_address;
    if (!metrics_listen.empty()) {
        auto parsed = domus::toolstack::parse_listen_address(metrics_listen);
        if (!parsed) {
            std::fprintf(stderr, "domusd: %s\n", parsed.error().message.c_str());
            return 2;
        }
        metrics_address = *parsed;
    }
    auto dir = domus::toolstack::RunDir::from_environment();
    if (!run_dir.empty()) dir.root = run_dir;
    if (options.cgroup_parent.empty())
        options.cgroup_parent = domus::toolstack::default_cgroup_parent(dir.root);

    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    ::signal(SIGCHLD, SIG_IGN);  // monitors report through their sockets; reap automatically

    auto daemon = domus::toolstack::Daemon::start(dir, std::move(options));
    if (!daemon) {
        std::fprintf(stderr, "domusd: %s\n", daemon.error().message.c_str());
        return 1;
    }
    std::unique_ptr<domus::toolstack::MetricsServer> metrics;
    if (metrics_address) {
        auto started = domus::toolstack::MetricsServer::start(
            *metrics_address, [&daemon] { return (*daemon)->metrics_text(); });
        if (!started) {
            std::fprintf(stderr, "domusd: %s\n", started.error().message.c_str());
            return 1;
        }
        metrics = std::move(*started);
        (*daemon)->announce_metrics(metrics->address());
        DOMUS_LOG_INFO("domusd", "metrics at http://{}/metrics", metrics->address());
    }
    domus::Fd stop(::eventfd(0, EFD_CLOEXEC));
    std::thread([&] {
        int signal = 0;
        sigwait(&signals, &signal);
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(stop.get(), &one, sizeof(one));
    }).detach();
    (*daemon)->serve(stop.get());
    DOMUS_LOG_INFO("domusd", "stopping; domains keep running");
    std::_Exit(0);  // detached watcher threads may still block in reads
}
