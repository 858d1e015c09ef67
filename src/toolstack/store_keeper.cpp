// StoreKeeper: the deposit table, the store watch and the store restart.
#include "toolstack/store_keeper.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "base/log.hpp"
#include "base/unix_socket.hpp"
#include "toolstack/spawn.hpp"

namespace domus::toolstack {
namespace {

Fd open_pidfd(pid_t pid) {
    return Fd(int(::syscall(SYS_pidfd_open, pid, 0)));
}

pid_t read_pid(const std::string& path) {
    char text[32] = {};
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd || ::read(fd.get(), text, sizeof(text) - 1) <= 0) return 0;
    return pid_t(std::atol(text));
}

}  // namespace

Result<std::unique_ptr<StoreKeeper>> StoreKeeper::start(const RunDir& run_dir) {
    // We hold up to four fds per domain and one per tool connection: as many as the
    // hard limit allows, not the usual soft 1024.
    rlimit files{};
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &files);
    }
    std::unique_ptr<StoreKeeper> keeper(new StoreKeeper(run_dir));
    keeper->stop_ = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!keeper->stop_) return errno_error("eventfd");
    DOMUS_TRY_VOID(keeper->link_running_store());
    // Once we return, every fd of the store is here: a store killed right after is
    // restarted with all of it.
    DOMUS_TRY_VOID(keeper->wait_synced());
    keeper->thread_ = std::thread([k = keeper.get()] { k->run(); });
    return keeper;
}

StoreKeeper::~StoreKeeper() {
    if (thread_.joinable()) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(stop_.get(), &one, sizeof(one));
        thread_.join();
    }
}

std::size_t StoreKeeper::deposits() const {
    std::lock_guard lock(mutex_);
    return kept_.size();
}

Result<void> StoreKeeper::link_running_store() {
    DOMUS_TRY(link, connect_unix(run_dir_.root + "/xenstored/" + store::kKeeperSocketName,
                                 SOCK_SEQPACKET));
    link_ = std::move(link);
    return {};
}

bool StoreKeeper::store_running(int limit_ms) const {
    pid_t pid = read_pid(run_dir_.root + "/xenstored/xenstored.pid");
    if (pid <= 0) return false;
    Fd pidfd = open_pidfd(pid);
    if (!pidfd) return false;  // ESRCH: gone (and reaped)
    pollfd p{pidfd.get(), POLLIN, 0};
    return ::poll(&p, 1, limit_ms) == 0;  // readable: it exited
}

bool StoreKeeper::receive() {
    store::KeeperMessage message;
    std::vector<Fd> fds;
    auto got = store::receive_keeper(link_.get(), message, fds);
    if (!got) {
        DOMUS_LOG_WARN("domusd", "store keeper: {}", got.error().message);
        return false;
    }
    if (!*got) return false;
    std::lock_guard lock(mutex_);
    // After a Reset the store's deposits are staged, and replace ours only at Synced:
    // a store that dies halfway leaves us the full earlier set for the next one.
    auto& table = synced_ ? kept_ : staged_;
    switch (message.op) {
        case store::KeeperOp::Reset:
            staged_.clear();
            stopping_ = false;
            synced_ = false;
            break;
        case store::KeeperOp::Synced:
            if (!synced_) kept_ = std::move(staged_);
            staged_.clear();
            synced_ = true;
            unsynced_restarts_ = 0;
            break;
        case store::KeeperOp::Deposit:
            table[message.id] = Kept{message, std::move(fds)};
            break;
        case store::KeeperOp::Withdraw:
            table.erase(message.id);
            break;
        case store::KeeperOp::Stopping:
            stopping_ = true;
            break;
        default:
            break;
    }
    return true;
}

Result<void> StoreKeeper::wait_synced() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (true) {
        {
            std::lock_guard lock(mutex_);
            if (synced_) return {};
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{link_.get(), POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, int(left.count())) != 1)
            return make_error("the store did not send its fds in time");
        if (!receive()) return make_error("the store closed the keeper link");
    }
}

void StoreKeeper::run() {
    while (true) {
        pollfd fds[2] = {{link_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents) return;
        if (!fds[0].revents) continue;
        if (receive()) continue;
        link_.reset();
        bool stopping;
        {
            std::lock_guard lock(mutex_);
            stopping = stopping_;
        }
        if (stopping) {
            DOMUS_LOG_INFO("domusd", "the store stopped cleanly; not restarted");
            return;
        }
        // The link broke: a store that lives on gets linked again, a dead one restarted
        // (but not forever: a store that keeps dying before it serves is left dead).
        constexpr int kMaxUnsyncedRestarts = 5;
        for (int attempt = 0; attempt < 5 && !link_; ++attempt) {
            if (unsynced_restarts_ >= kMaxUnsyncedRestarts) break;
            if (store_running(2000)) {
                if (auto linked = link_running_store(); !linked)
                    DOMUS_LOG_WARN("domusd", "store keeper: {}", linked.error().message);
            } else if (auto restarted = restart_store(); !restarted) {
                DOMUS_LOG_ERROR("domusd", "restarting the store: {}", restarted.error().message);
            } else {
                ++unsynced_restarts_;
            }
        }
        if (!link_) {
            DOMUS_LOG_ERROR("domusd", "the store is gone and could not be restarted");
            return;
        }
    }
}

Result<void> StoreKeeper::restart_store() {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
        return errno_error("socketpair");
    Fd ours(pair[0]), theirs(pair[1]);
    std::string binary = executable_dir() + "/domus-xenstored";
    DOMUS_TRY(pid, spawn_detached({binary, "--run-dir", run_dir_.root, "--keeper-fd", "3"},
                                  run_dir_.root + "/xenstored.log", theirs.get()));
    theirs.reset();
    std::size_t count = 0;
    {
        // Hand everything back; we keep our copies until the new store's Reset says it
        // holds its own (if it dies during the restore, the next one gets them again).
        std::lock_guard lock(mutex_);
        for (const auto& [id, kept] : kept_) {
            store::KeeperMessage message = kept.message;
            message.op = store::KeeperOp::Restore;
            std::vector<int> fds;
            for (const Fd& fd : kept.fds)
                fds.push_back(fd.get());
            DOMUS_TRY_VOID(store::send_keeper(ours.get(), message, fds));
            ++count;
        }
    }
    DOMUS_TRY_VOID(store::send_keeper(ours.get(), {.op = store::KeeperOp::RestoreEnd}, {}));
    link_ = std::move(ours);
    ++restarts_;
    DOMUS_LOG_INFO("domusd", "the store died; restarted it (pid {}) with {} kept fds", pid, count);
    return {};
}

}  // namespace domus::toolstack
