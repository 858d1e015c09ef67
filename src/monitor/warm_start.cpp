// A pooled monitor's wait for its domain, and the domain's identity taken on.
#include "monitor/warm_start.hpp"

#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/fd.hpp"
#include "base/monitor_pool_protocol.hpp"
#include "base/unix_socket.hpp"

namespace domus::monitor {

Result<std::optional<std::vector<std::string>>> wait_for_domain(int socket,
                                                                const sigset_t& stop_signals) {
    DOMUS_TRY_VOID(send_all(socket, kWarmReport));
    // The stop signals are blocked (for the watcher thread of the domain to come), yet a
    // warm monitor should go on SIGTERM: it sleeps on them as an fd, beside the socket.
    Fd signals(::signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals) return errno_error("signalfd for the stop signals");
    std::string bytes(kMaxAssignmentBytes, '\0');
    std::vector<Fd> fds;
    for (;;) {
        pollfd p[2] = {{socket, POLLIN, 0}, {signals.get(), POLLIN, 0}};
        int ready = ::poll(p, 2, -1);
        if (ready < 0 && errno != EINTR) return errno_error("poll on the pool socket");
        if (ready <= 0) continue;
        if (p[1].revents) return std::optional<std::vector<std::string>>();  // told to stop
        auto received = receive_with_fds(socket, bytes, 2, fds);
        if (!received)
            return make_error("receive from the pool socket: {}", received.error().message);
        std::size_t n = received->bytes;
        if (n == 0) return std::optional<std::vector<std::string>>();  // domusd closed its end
        if (received->cut || fds.size() != 2)
            return make_error("the pool sent a bad assignment ({} bytes, {} fds)", n, fds.size());
        bytes.resize(n);
        break;
    }
    // The domain's log from now on; the readiness pipe where --ready-fd says.
    if (::dup2(fds[0].get(), STDOUT_FILENO) < 0 || ::dup2(fds[0].get(), STDERR_FILENO) < 0)
        return errno_error("the domain's log");
    ::close(socket);  // not owned by an object: it is the fd the pool passed at exec
    if (::dup2(fds[1].get(), kPoolSocketFd) < 0) return errno_error("the readiness pipe");
    // Warmed up under SCHED_IDLE (vmm_main.cpp); a domain's monitor runs as any other.
    sched_param priority{};
    if (::sched_setscheduler(0, SCHED_OTHER, &priority) != 0)
        return errno_error("leaving SCHED_IDLE");
    auto argv = decode_arguments(bytes);
    if (argv.empty()) return make_error("the pool sent an empty command line");
    return std::optional(std::move(argv));
}

Result<void> take_command_line(std::span<char> area, const std::vector<std::string>& argv) {
    std::string bytes;
    for (const auto& arg : argv) {
        if (bytes.size() + arg.size() + 1 > area.size()) break;  // whole arguments only
        bytes += arg;
        bytes += '\0';
    }
    // NULs to the end: the area's last byte stays 0, so the kernel reads it as arguments
    // (a last byte overwritten means a setproctitle() title, one string).
    std::memset(area.data(), 0, area.size());
    std::memcpy(area.data(), bytes.data(), bytes.size());
    std::string name = argv[0].substr(argv[0].rfind('/') + 1);
    if (::prctl(PR_SET_NAME, name.substr(0, 15).c_str(), 0, 0, 0) != 0)
        return errno_error("PR_SET_NAME");
    if (bytes.size() < encode_arguments(argv).size())
        return make_error("the command line is longer than the {} bytes kept for it", area.size());
    return {};
}

}  // namespace domus::monitor
