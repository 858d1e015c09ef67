// PrimaryConsole: draining the ring (ConsoleRing's index discipline), input feeding and
// the output history.
#include "backends/console/primary_console.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "base/log.hpp"

namespace domus::backends {
namespace {

void drain_eventfd(int fd) {
    std::uint64_t value;
    [[maybe_unused]] auto n = ::read(fd, &value, sizeof(value));
}

}  // namespace

PrimaryConsole::PrimaryConsole(std::span<std::byte> page, int output_fd, int input_fd)
    : ring_(page),
      output_fd_(output_fd),
      input_fd_(input_fd),
      doorbell_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      stop_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

PrimaryConsole::~PrimaryConsole() {
    stop();
}

void PrimaryConsole::start(std::function<void()> notify_guest) {
    notify_guest_ = std::move(notify_guest);
    thread_ = std::thread([this] { thread_main(); });
}

void PrimaryConsole::stop() {
    if (!thread_.joinable()) return;
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_.get(), &one, sizeof(one));
    thread_.join();
    drain_output();
}

void PrimaryConsole::thread_main() {
    pollfd fds[3] = {
        {doorbell_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}, {input_fd_, POLLIN, 0}};
    for (;;) {
        nfds_t count = (input_fd_ >= 0 && input_open_) ? 3 : 2;
        if (::poll(fds, count, -1) < 0) {
            if (errno == EINTR) continue;
            DOMUS_LOG_ERROR("console", "poll: {}", std::strerror(errno));
            return;
        }
        if (fds[0].revents & POLLIN) {
            drain_eventfd(doorbell_.get());
            drain_output();
            feed_input();  // the guest may have made room for input that waits
        }
        if (count == 3 && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
            char buffer[1024];
            ssize_t n = ::read(input_fd_, buffer, sizeof(buffer));
            if (n <= 0) {
                input_open_ = false;
            } else {
                std::lock_guard lock(input_mutex_);
                pending_input_.append(buffer, std::size_t(n));
            }
            feed_input();
        }
        if (fds[1].revents & POLLIN) return;
    }
}

void PrimaryConsole::drain_output() {
    constexpr std::size_t kSize = sizeof(xencons_interface::out);
    std::lock_guard lock(drain_mutex_);  // the console thread and console_io both drain
    drained_.clear();
    auto taken = ring_.take_output(drained_, kSize);
    if (!taken) {
        // A confused guest: say so (rate-limited) and carry on from where it claims to be.
        static log::RateLimit limit;
        if (limit.allow()) DOMUS_LOG_WARN("console", "guest console ring index out of range");
        ring_.skip_output();
        return;
    }
    if (*taken == 0) return;
    write_all(drained_.data(), drained_.size());
    bytes_out_.fetch_add(*taken, std::memory_order_relaxed);
    // A guest that found the ring full waits for space: tell it when the ring was at
    // least half full (the guest contract in console.h); smaller drains stay silent.
    if (*taken >= kSize / 2) notify();
}

void PrimaryConsole::feed_input() {
    std::lock_guard lock(input_mutex_);
    if (pending_input_.empty()) return;
    auto put = ring_.put_input(pending_input_);
    if (!put || *put == 0) return;  // full, or a confused guest: just stop feeding
    pending_input_.erase(0, *put);
    notify();
}

void PrimaryConsole::notify() {
    notifications_.fetch_add(1, std::memory_order_relaxed);
    if (notify_guest_) notify_guest_();
}

void PrimaryConsole::write_direct(const char* data, std::size_t length) {
    drain_output();  // keep ring output that came first ahead of this
    write_all(data, length);
}

std::size_t PrimaryConsole::read_direct(char* data, std::size_t length) {
    std::lock_guard lock(input_mutex_);
    std::size_t n = std::min(length, pending_input_.size());
    std::copy_n(pending_input_.data(), n, data);
    pending_input_.erase(0, n);
    return n;
}

constexpr std::size_t kHistoryBytes = 64 * 1024;

void PrimaryConsole::write_all(const char* data, std::size_t length) {
    std::lock_guard lock(output_mutex_);
    history_.append(data, length);
    if (history_.size() > kHistoryBytes) history_.erase(0, history_.size() - kHistoryBytes);
    while (length > 0 && output_fd_ >= 0) {
        ssize_t n = ::write(output_fd_, data, length);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            output_fd_ = -1;  // the reader went away: output goes to the history only
            return;
        }
        data += n;
        length -= std::size_t(n);
    }
}

void PrimaryConsole::set_output(int fd, bool replay) {
    drain_output();
    std::lock_guard lock(output_mutex_);
    output_fd_ = fd;
    if (replay && fd >= 0 && !history_.empty()) {
        std::string copy = history_;
        const char* data = copy.data();
        std::size_t length = copy.size();
        while (length > 0) {
            ssize_t n = ::write(fd, data, length);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                output_fd_ = -1;
                return;
            }
            data += n;
            length -= std::size_t(n);
        }
    }
}

void PrimaryConsole::push_input(std::string_view bytes) {
    {
        std::lock_guard lock(input_mutex_);
        pending_input_.append(bytes);
    }
    feed_input();
}

}  // namespace domus::backends
