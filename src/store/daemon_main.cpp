// domus-xenstored: the store daemon. One thread, one epoll loop serving the tool
// socket (dom0 clients such as xenstore-utils) and the domain socket (monitors
// attaching guest rings). Runs in the foreground; daemonising is the parent's job.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "base/log.hpp"
#include "store/domain_socket_server.hpp"
#include "store/event_loop.hpp"
#include "store/event_router.hpp"
#include "store/run_dir.hpp"
#include "store/store.hpp"
#include "store/tool_socket_server.hpp"

namespace domus::store {
namespace {

struct Options {
    std::string run_dir;
    std::string log_level = "info";
    int ready_fd = -1;  // written and closed once both sockets accept connections
};

// Readiness as an event: whoever started us reads a line (or, if we die first, EOF)
// instead of polling the socket.
void report_ready(int fd) {
    if (fd < 0) return;
    [[maybe_unused]] auto n = ::write(fd, "ready\n", 6);
    ::close(fd);
}

// SIGTERM and SIGINT as a readable fd: the loop stops and the destructors unlink the
// sockets. The signals are blocked first so that they never kill us mid-request.
Result<Fd> stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return errno_error("sigprocmask");
    Fd fd(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!fd) return errno_error("signalfd");
    return fd;
}

// What the daemon is made of, in the order it comes up (and in reverse, goes down).
struct Daemon {
    RunDir run_dir;
    EventLoop loop;
    Fd signals;
    Store store;
    EventRouter router{store};
    std::unique_ptr<ToolSocketServer> tools;
    std::unique_ptr<DomainSocketServer> domains;

    Daemon(RunDir dir, EventLoop event_loop, Fd stop)
        : run_dir(std::move(dir)), loop(std::move(event_loop)), signals(std::move(stop)) {}

    Result<void> start() {
        DOMUS_TRY(stop_token, loop.add(signals.get(), EPOLLIN, [this](std::uint32_t) {
            signalfd_siginfo info;
            if (::read(signals.get(), &info, sizeof(info)) == sizeof(info))
                DOMUS_LOG_INFO("xenstored", "signal {}: stopping", info.ssi_signo);
            loop.stop();
        }));
        (void)stop_token;
        DOMUS_TRY(tool_server, ToolSocketServer::listen(loop, store, router,
                                                        run_dir.socket_path(kToolSocketName)));
        tools = std::move(tool_server);
        DOMUS_TRY(domain_server, DomainSocketServer::listen(
                                     loop, store, router, run_dir.socket_path(kDomainSocketName)));
        domains = std::move(domain_server);
        router.on_domain_change = [this](const DomainChange& change) {
            domains->on_domain_change(change);
        };
        DOMUS_LOG_INFO("xenstored", "serving {}/{{{},{}}}", run_dir.path(), kToolSocketName,
                       kDomainSocketName);
        return {};
    }
};

log::Level parse_level(const std::string& name) {
    using log::Level;
    return name == "debug"   ? Level::debug
           : name == "warn"  ? Level::warn
           : name == "error" ? Level::error
                             : Level::info;
}

int run(const Options& options) {
    auto run_dir = RunDir::open(options.run_dir);
    if (!run_dir) {
        DOMUS_LOG_ERROR("xenstored", "{}", run_dir.error().message);
        return 1;
    }
    auto loop = EventLoop::create();
    auto signals = stop_signals();
    if (!loop || !signals) {
        DOMUS_LOG_ERROR("xenstored", "{}", (!loop ? loop.error() : signals.error()).message);
        return 1;
    }
    ::signal(SIGPIPE, SIG_IGN);
    Daemon daemon(std::move(run_dir).value(), std::move(loop).value(), std::move(signals).value());
    if (auto started = daemon.start(); !started) {
        DOMUS_LOG_ERROR("xenstored", "{}", started.error().message);
        return 1;
    }
    report_ready(options.ready_fd);
    if (auto ran = daemon.loop.run(); !ran) {
        DOMUS_LOG_ERROR("xenstored", "{}", ran.error().message);
        return 1;
    }
    return 0;
}

}  // namespace
}  // namespace domus::store

int main(int argc, char** argv) {
    domus::store::Options options;
    const char* env_run_dir = std::getenv("DOMUS_RUN_DIR");
    options.run_dir = env_run_dir && *env_run_dir ? env_run_dir : "/run/domus";
    bool foreground = true;
    CLI::App app{"domus-xenstored: the Domus XenStore daemon"};
    app.add_option("--run-dir", options.run_dir,
                   "state folder (default $DOMUS_RUN_DIR or /run/domus)");
    app.add_flag("--foreground", foreground, "stay in the foreground (the only mode)");
    app.add_option("--ready-fd", options.ready_fd,
                   "write \"ready\\n\" to this inherited fd and close it once serving");
    app.add_option("--log-level", options.log_level, "debug, info, warn or error")
        ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
    CLI11_PARSE(app, argc, argv);
    domus::log::Config::instance().level.store(domus::store::parse_level(options.log_level));
    return domus::store::run(options);
}
