// MonitorPool: warm monitors started ahead, handed their domain over a socket.
#include "toolstack/monitor_pool.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "base/log.hpp"
#include "base/monitor_pool_protocol.hpp"
#include "base/unix_socket.hpp"
#include "toolstack/spawn.hpp"

namespace domus::toolstack {
namespace {

// A warm monitor reports within milliseconds; this long covers a loaded host.
constexpr auto kWarmTimeout = std::chrono::seconds(10);
// After a monitor that did not get warm (no /dev/kvm, say): no busy loop of retries.
constexpr auto kRetryPause = std::chrono::seconds(2);

// Gone, or said something out of turn: either way not to be handed a domain.
bool hung_up(int socket) {
    pollfd p{socket, POLLIN, 0};
    return ::poll(&p, 1, 0) != 0;
}

void discard(pid_t pid) {
    ::kill(pid, SIGKILL);  // domusd ignores SIGCHLD: the kernel reaps it
}

}  // namespace

MonitorPool::MonitorPool(std::string binary, std::string run_dir, std::string log_path,
                         unsigned size)
    : binary_(std::move(binary)),
      run_dir_(std::move(run_dir)),
      log_path_(std::move(log_path)),
      size_(size),
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (size_ > 0 && wake_) refiller_ = std::thread([this] { refill(); });
}

MonitorPool::~MonitorPool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake();
    if (refiller_.joinable()) refiller_.join();
    for (auto& warm : warm_)
        discard(warm.pid);
    drop_parent();
}

void MonitorPool::wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
}

bool MonitorPool::stopping() {
    std::lock_guard lock(mutex_);
    return stopping_;
}

MonitorPool::Counts MonitorPool::counts() {
    std::lock_guard lock(mutex_);
    return {size_, unsigned(warm_.size()), handed_, cold_, forked_, execd_};
}

std::optional<pid_t> MonitorPool::start(const std::vector<std::string>& argv,
                                        const std::string& log_path, int ready_fd) {
    auto cold = [&] {
        std::lock_guard lock(mutex_);
        ++cold_;
        return std::nullopt;
    };
    std::string bytes = encode_arguments(argv);
    if (bytes.size() > kMaxAssignmentBytes) return cold();
    Fd log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!log) return cold();  // the cold start says why
    for (;;) {
        Warm warm;
        {
            std::lock_guard lock(mutex_);
            if (warm_.empty()) {
                ++cold_;
                return std::nullopt;
            }
            warm = std::move(warm_.front());
            warm_.pop_front();
        }
        wake();  // one to replace
        int fds[] = {log.get(), ready_fd};
        if (!hung_up(warm.socket.get()) && send_with_fds(warm.socket.get(), bytes, fds)) {
            std::lock_guard lock(mutex_);
            ++handed_;
            return warm.pid;
        }
        DOMUS_LOG_WARN("domusd", "warm monitor {} is gone; trying another", warm.pid);
        discard(warm.pid);
    }
}

void MonitorPool::refill() {
    while (!stopping()) {
        std::vector<pollfd> watched{{wake_.get(), POLLIN, 0}};
        bool short_of_one;
        {
            std::lock_guard lock(mutex_);
            for (const auto& warm : warm_)
                watched.push_back({warm.socket.get(), POLLIN, 0});
            short_of_one = warm_.size() < size_;
        }
        if (short_of_one) {
            auto warm = start_one();
            std::lock_guard lock(mutex_);
            if (warm) {
                warm_.push_back(std::move(*warm));
                continue;
            }
        }
        // Full (or a start failed: no busy loop of retries): wait for a change, or for a
        // warm monitor's socket to say anything (only its end can: it died).
        int ready = ::poll(watched.data(), nfds_t(watched.size()),
                           short_of_one ? int(std::chrono::milliseconds(kRetryPause).count()) : -1);
        if (ready <= 0) continue;
        if (watched[0].revents) {
            std::uint64_t count;
            [[maybe_unused]] auto n = ::read(wake_.get(), &count, sizeof count);
        }
        std::vector<int> ended;
        for (std::size_t i = 1; i < watched.size(); ++i)
            if (watched[i].revents) ended.push_back(watched[i].fd);
        if (!ended.empty()) drop_hung_up(ended);
    }
}

// The warm monitors whose socket was among `sockets` and still says something (taken
// ones left warm_ meanwhile, and their fd may already be another's): dropped.
void MonitorPool::drop_hung_up(const std::vector<int>& sockets) {
    std::lock_guard lock(mutex_);
    for (auto it = warm_.begin(); it != warm_.end();) {
        bool listed = std::find(sockets.begin(), sockets.end(), it->socket.get()) != sockets.end();
        if (listed && hung_up(it->socket.get())) {
            DOMUS_LOG_WARN("domusd", "warm monitor {} ended; starting another", it->pid);
            discard(it->pid);
            it = warm_.erase(it);
        } else {
            ++it;
        }
    }
}

std::optional<MonitorPool::Warm> MonitorPool::start_one() {
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) < 0) {
        DOMUS_LOG_WARN("domusd", "monitor pool: socketpair: {}", std::strerror(errno));
        return std::nullopt;
    }
    Fd ours(ends[0]), theirs(ends[1]);
    // Forked by the pool's parent, or exec'd when there is none to ask.
    auto forked = fork_one(theirs.get());
    Result<pid_t> pid = forked ? Result<pid_t>(*forked)
                               : spawn_detached({binary_, kWarmArguments[0], kWarmArguments[1],
                                                 run_dir_, std::string(kTitleSpace, ' ')},
                                                log_path_, theirs.get());
    theirs.reset();
    if (!pid) {
        DOMUS_LOG_WARN("domusd", "monitor pool: {}", pid.error().message);
        return std::nullopt;
    }
    {
        std::lock_guard lock(mutex_);
        ++(parent_ ? forked_ : execd_);
    }
    char report[16];
    if (auto n = await_message(ours.get(), report);
        n && std::string_view(report, *n) == kWarmReport)
        return Warm{*pid, std::move(ours)};
    // It failed (its reason is in the pool's log), or took too long.
    if (!stopping())
        DOMUS_LOG_WARN("domusd", "monitor pool: monitor {} did not get warm (see {})", *pid,
                       log_path_);
    discard(*pid);
    return std::nullopt;
}

std::optional<std::size_t> MonitorPool::await_message(int socket, std::span<char> buffer) {
    // In slices, so that a stopping pool is not held up.
    auto deadline = std::chrono::steady_clock::now() + kWarmTimeout;
    while (std::chrono::steady_clock::now() < deadline && !stopping()) {
        pollfd p{socket, POLLIN, 0};
        int ready = ::poll(&p, 1, 100);
        if (ready < 0 && errno != EINTR) break;
        if (ready <= 0) continue;
        ssize_t n = ::recv(socket, buffer.data(), buffer.size(), 0);
        if (n <= 0) break;
        return std::size_t(n);
    }
    return std::nullopt;
}

std::optional<pid_t> MonitorPool::fork_one(int socket) {
    for (;;) {
        if (!parent_ && !start_parent()) return std::nullopt;
        int fds[] = {socket};
        pid_t child = 0;
        bool answered = false;
        if (send_with_fds(parent_.get(), kForkRequest, fds)) {
            char answer[sizeof child];
            if (auto n = await_message(parent_.get(), answer); n && *n == sizeof child) {
                std::memcpy(&child, answer, sizeof child);
                answered = true;
            }
        }
        if (answered && child > 0) {
            ++parent_forks_;
            return child;
        }
        if (stopping()) return std::nullopt;
        bool had_worked = parent_forks_ > 0;
        DOMUS_LOG_WARN("domusd", "monitor pool: its parent {} {}; starting another (see {})",
                       parent_pid_, answered ? "could not fork" : "is gone", log_path_);
        drop_parent();
        // One that had worked (killed, say) is replaced at once; one that failed from its
        // start (no /dev/kvm) is retried after a pause, and monitors are exec'd meanwhile.
        if (!had_worked) return std::nullopt;
        parent_retry_ = {};
    }
}

std::optional<pid_t> MonitorPool::start_parent() {
    if (std::chrono::steady_clock::now() < parent_retry_) return std::nullopt;
    parent_retry_ = std::chrono::steady_clock::now() + kRetryPause;  // if this one fails
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) < 0) return std::nullopt;
    Fd ours(ends[0]), theirs(ends[1]);
    auto pid = spawn_detached({binary_, kWarmParentArguments[0], kWarmParentArguments[1], run_dir_,
                               std::string(kTitleSpace, ' ')},
                              log_path_, theirs.get());
    if (!pid) {
        DOMUS_LOG_WARN("domusd", "monitor pool: its parent: {}", pid.error().message);
        return std::nullopt;
    }
    parent_pid_ = *pid;
    parent_ = std::move(ours);
    parent_forks_ = 0;
    return parent_pid_;
}

void MonitorPool::drop_parent() {
    if (!parent_) return;
    parent_.reset();  // EOF: it ends by itself; the kill makes sure
    discard(parent_pid_);
    parent_pid_ = 0;
}

}  // namespace domus::toolstack
