// domusd: the Domain 0 toolstack daemon. Started by the CLI when it is not running.
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <thread>

#include "base/log.hpp"
#include "toolstack/daemon.hpp"

int main(int argc, char** argv) {
    CLI::App app{"domusd: the Domus toolstack daemon"};
    std::string run_dir;
    app.add_option("--run-dir", run_dir, "Run directory (default $DOMUS_RUN_DIR or /run/domus)");
    std::string cgroup_parent;
    app.add_option("--cgroup-parent", cgroup_parent,
                   "Cgroup (under the cpu hierarchy) holding the domains' groups (default "
                   "$DOMUS_CGROUP_PARENT, else domus for /run/domus and domus-<run dir> for "
                   "another run directory)");
    CLI11_PARSE(app, argc, argv);
    auto dir = domus::toolstack::RunDir::from_environment();
    if (!run_dir.empty()) dir.root = run_dir;
    const char* parent_env = std::getenv("DOMUS_CGROUP_PARENT");
    if (cgroup_parent.empty() && parent_env && *parent_env) cgroup_parent = parent_env;
    if (cgroup_parent.empty()) cgroup_parent = domus::toolstack::default_cgroup_parent(dir.root);

    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    ::signal(SIGCHLD, SIG_IGN);  // monitors report through their sockets; reap automatically

    auto daemon = domus::toolstack::Daemon::start(dir, cgroup_parent);
    if (!daemon) {
        std::fprintf(stderr, "domusd: %s\n", daemon.error().message.c_str());
        return 1;
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
