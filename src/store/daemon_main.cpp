// domus-xenstored: the store daemon. One thread, one epoll loop serving the tool
// socket (dom0 clients such as xenstore-utils) and the domain socket (monitors
// attaching guest rings). Runs in the foreground; daemonising is the parent's job.
//
// Its state survives its own death (docs/store-semantics.md, "Restart durability"): the
// tree, watches and domain table are journaled in the run dir, and every fd it serves
// is deposited with an fd keeper (domusd), which restarts it with --keeper-fd and hands
// them back; the new store replays the journal and re-adopts each connection.
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "base/log.hpp"
#include "store/domain_socket_server.hpp"
#include "store/event_loop.hpp"
#include "store/event_router.hpp"
#include "store/keeper_link.hpp"
#include "store/run_dir.hpp"
#include "store/state_journal.hpp"
#include "store/store.hpp"
#include "store/tool_socket_server.hpp"

namespace domus::store {
namespace {

struct Options {
    std::string run_dir;
    std::string log_level = "info";
    int ready_fd = -1;   // written and closed once both sockets accept connections
    int keeper_fd = -1;  // an inherited link to the fd keeper, which restores first
    bool journal = true;
};

// What the keeper handed back to a restarted store.
struct Kept {
    KeeperMessage message;
    std::vector<Fd> fds;
};

// Reads the keeper's Restore messages up to RestoreEnd (bounded in time: a keeper that
// says nothing leaves us to start empty-handed).
Result<std::vector<Kept>> receive_restore(int link) {
    timeval limit{10, 0};
    ::setsockopt(link, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
    std::vector<Kept> kept;
    while (true) {
        Kept item;
        DOMUS_TRY(more, receive_keeper(link, item.message, item.fds));
        if (!more) return domus::make_error("the fd keeper closed the link during the restore");
        if (item.message.op == KeeperOp::RestoreEnd) break;
        if (item.message.op == KeeperOp::Restore) kept.push_back(std::move(item));
    }
    timeval none{0, 0};
    ::setsockopt(link, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
    return kept;
}

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
    std::unique_ptr<StateJournal> journal;
    KeeperLink keeper{loop};
    std::unique_ptr<UnixListener> keeper_listener;
    std::unique_ptr<ToolSocketServer> tools;
    std::unique_ptr<DomainSocketServer> domains;

    bool journaled;

    Daemon(RunDir dir, EventLoop event_loop, Fd stop, bool journal)
        : run_dir(std::move(dir)),
          loop(std::move(event_loop)),
          signals(std::move(stop)),
          journaled(journal) {}

    Result<void> start(Fd keeper_link) {
        DOMUS_TRY(stop_token, loop.add(signals.get(), EPOLLIN, [this](std::uint32_t) {
            signalfd_siginfo info;
            if (::read(signals.get(), &info, sizeof(info)) == sizeof(info))
                DOMUS_LOG_INFO("xenstored", "signal {}: stopping", info.ssi_signo);
            loop.stop();
        }));
        (void)stop_token;
        // The state first (the journal), then the fds that serve it (the keeper's).
        if (journaled) {
            DOMUS_TRY(recovered, StateJournal::recover(store, run_dir.path()));
            journal = std::move(recovered);
        }
        std::vector<Kept> kept;
        if (keeper_link) {
            DOMUS_TRY(restored, receive_restore(keeper_link.get()));
            kept = std::move(restored);
            for (const Kept& item : kept)
                store.reserve_connection_id(item.message.id);
        }
        auto listener = [&](std::uint64_t id) {
            for (Kept& item : kept)
                if (item.message.id == id && item.fds.size() == 1) return std::move(item.fds[0]);
            return Fd();
        };
        Durable durable{journal.get(), &keeper};
        DOMUS_TRY(tool_server, ToolSocketServer::listen(loop, store, router,
                                                        run_dir.socket_path(kToolSocketName),
                                                        durable, listener(kToolListenerId)));
        tools = std::move(tool_server);
        DOMUS_TRY(domain_server, DomainSocketServer::listen(loop, store, router,
                                                            run_dir.socket_path(kDomainSocketName),
                                                            durable, listener(kDomainListenerId)));
        domains = std::move(domain_server);
        router.on_domain_change = [this](const DomainChange& change) {
            domains->on_domain_change(change);
        };
        keeper.deposit(kToolListenerId, KeptKind::ToolListener, {tools->listening_fd()});
        keeper.deposit(kDomainListenerId, KeptKind::DomainListener, {domains->listening_fd()});
        adopt(kept);
        DOMUS_TRY(keeper_server,
                  UnixListener::listen(loop, run_dir.socket_path(kKeeperSocketName), SOCK_SEQPACKET,
                                       [this](Fd fd) { keeper.connect(std::move(fd)); }));
        keeper_listener = std::move(keeper_server);
        if (keeper_link) keeper.connect(std::move(keeper_link));
        DOMUS_LOG_INFO("xenstored", "serving {}/{{{},{}}}", run_dir.path(), kToolSocketName,
                       kDomainSocketName);
        return {};
    }

    // Rebuilds the connections the keeper handed back on the replayed state; the ones
    // it did not hand back are gone (their clients saw the old store close them).
    void adopt(std::vector<Kept>& kept) {
        std::size_t tool_clients = 0, rings = 0;
        for (Kept& item : kept) {
            if (item.message.kind == KeptKind::ToolClient && item.fds.size() == 1 &&
                item.message.id >= kFirstConnectionId) {
                tools->adopt(std::move(item.fds[0]), item.message.id);
                ++tool_clients;
            } else if (item.message.kind == KeptKind::Domain && item.fds.size() == 4 &&
                       item.message.id >= kFirstConnectionId) {
                Fd fds[4] = {std::move(item.fds[0]), std::move(item.fds[1]), std::move(item.fds[2]),
                             std::move(item.fds[3])};
                if (domains->restore(item.message.id, item.message.attach, fds)) ++rings;
            }
        }
        auto dropped = store.drop_unclaimed();
        domains->release_unattached();
        // Events in flight died with the old store: every watch fires once instead.
        store.fire_all_watches();
        router.route();
        if (journal) journal->compact();
        if (!kept.empty() || !dropped.empty())
            DOMUS_LOG_INFO("xenstored", "restart: {} tool connections and {} rings kept, {} lost",
                           tool_clients, rings, dropped.size());
    }

    // A clean stop: no restart, no state kept (as without a journal).
    void stop() {
        keeper.stopping();
        if (journal) journal->discard();
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
    // Four fds per attached domain (socket, memfd, two eventfds, kept for the fd keeper)
    // and one per tool connection: as many as the hard limit allows.
    rlimit files{};
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &files);
    }
    Daemon daemon(std::move(run_dir).value(), std::move(loop).value(), std::move(signals).value(),
                  options.journal);
    Fd keeper_link(options.keeper_fd);
    if (auto started = daemon.start(std::move(keeper_link)); !started) {
        DOMUS_LOG_ERROR("xenstored", "{}", started.error().message);
        return 1;
    }
    report_ready(options.ready_fd);
    if (auto ran = daemon.loop.run(); !ran) {
        DOMUS_LOG_ERROR("xenstored", "{}", ran.error().message);
        return 1;
    }
    daemon.stop();
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
    app.add_option("--keeper-fd", options.keeper_fd,
                   "an inherited SOCK_SEQPACKET link to the fd keeper: restore from it first");
    bool no_journal = false;
    app.add_flag("--no-journal", no_journal,
                 "keep no state files: a restarted store starts empty (measures the journal)");
    app.add_option("--log-level", options.log_level, "debug, info, warn or error")
        ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
    CLI11_PARSE(app, argc, argv);
    options.journal = !no_journal;
    domus::log::Config::instance().level.store(domus::store::parse_level(options.log_level));
    return domus::store::run(options);
}
