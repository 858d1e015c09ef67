// MonitorPool: domusd's warm monitors, as LightVM's split toolstack prepares VM shells
// ahead of `create`. Each is a `domus-vmm --warm` that has already been exec'd and
// linked, opened and queried /dev/kvm and compiled its seccomp allowlist, and now waits
// on a socket for a domain (monitor/warm_start.hpp, base/monitor_pool_protocol.hpp). A
// create hands its monitor command line to one of them instead of starting a process,
// which takes those ~1.5 ms out of every start; a thread starts a replacement behind it.
//
// The warm monitors are forked by one `domus-vmm --warm-parent`, the pool's parent, which
// was exec'd and linked and opened and queried /dev/kvm once for all of them
// (base/monitor_pool_protocol.hpp), so that a fork costs less CPU than an exec of its
// own. Should the parent fail or die, a new one starts; meanwhile monitors are exec'd.
//
// A warm monitor holds no domain and no disk. It ends when domusd does (its socket
// closes), so a restarted daemon starts a fresh pool; its name is "domus-vmm-warm"
// until it is given a domain, then "domus-vmm" with that domain's command line. The
// refill thread watches every warm monitor's socket: one that dies (killed, say) is
// dropped and replaced at once, not found dead by the next create.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "base/fd.hpp"

namespace domus::toolstack {

class MonitorPool {
public:
    // Keeps `size` warm monitors (0: none, every start is cold); their output before
    // they have a domain goes to `log_path`.
    MonitorPool(std::string binary, std::string run_dir, std::string log_path, unsigned size);
    ~MonitorPool();
    MonitorPool(const MonitorPool&) = delete;
    MonitorPool& operator=(const MonitorPool&) = delete;

    // Hands `argv` (a domus-vmm command line whose readiness fd is 3) to a warm monitor,
    // with `log_path` for its output and `ready_fd` for its report, as spawn_detached()
    // would start it: the monitor's pid, or nullopt when none is warm (start it cold).
    std::optional<pid_t> start(const std::vector<std::string>& argv, const std::string& log_path,
                               int ready_fd);

    struct Counts {
        unsigned size = 0;
        unsigned warm = 0;         // ready now
        std::uint64_t handed = 0;  // starts served by a warm monitor
        std::uint64_t cold = 0;    // starts that found none warm
        std::uint64_t forked = 0;  // warm monitors forked by the pool's parent
        std::uint64_t execd = 0;   // ... and exec'd instead (no parent)
    };
    Counts counts();

private:
    struct Warm {
        pid_t pid = 0;
        Fd socket;
    };
    void refill();
    std::optional<Warm> start_one();
    // A new monitor on `socket` (its fd 3): forked by the pool's parent (started first if
    // need be), or nullopt when there is none to ask.
    std::optional<pid_t> fork_one(int socket);
    std::optional<pid_t> start_parent();
    void drop_parent();
    // The next message on `socket` (its size), within kWarmTimeout; nullopt when it does
    // not come, the socket closes or the pool stops meanwhile.
    std::optional<std::size_t> await_message(int socket, std::span<char> buffer);
    void wake();
    bool stopping();
    void drop_hung_up(const std::vector<int>& sockets);

    const std::string binary_;
    const std::string run_dir_;
    const std::string log_path_;
    const unsigned size_;
    std::mutex mutex_;
    Fd wake_;                // an eventfd: the refill thread's poll wakes on it (taken, stopping)
    std::deque<Warm> warm_;  // guarded by mutex_
    std::uint64_t handed_ = 0;  // guarded by mutex_
    std::uint64_t cold_ = 0;    // guarded by mutex_
    std::uint64_t forked_ = 0;  // guarded by mutex_
    std::uint64_t execd_ = 0;   // guarded by mutex_
    // The pool's parent, used by the refill thread only (and the destructor after it).
    pid_t parent_pid_ = 0;
    std::uint64_t parent_forks_ = 0;                      // monitors it forked
    Fd parent_;                                           // its socket; empty: none running
    std::chrono::steady_clock::time_point parent_retry_;  // no new parent before this
    bool stopping_ = false;                               // guarded by mutex_
    std::thread refiller_;
};

}  // namespace domus::toolstack
