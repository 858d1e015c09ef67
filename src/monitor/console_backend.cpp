// Console backend: ring draining with Xen's index discipline (read prod once, check it,
// copy, then publish cons) and input feeding.
#include "monitor/console_backend.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "base/log.hpp"
#include "monitor/event_channels.hpp"

namespace domus::monitor {
namespace {

template <class T>
std::atomic_ref<T> shared(T& value) {
    return std::atomic_ref<T>(value);
}

void drain_eventfd(int fd) {
    std::uint64_t value;
    [[maybe_unused]] auto n = ::read(fd, &value, sizeof(value));
}

}  // namespace

ConsoleBackend::ConsoleBackend(xencons_interface& ring, int output_fd, int input_fd)
    : ring_(ring),
      output_fd_(output_fd),
      input_fd_(input_fd),
      doorbell_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      stop_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

ConsoleBackend::~ConsoleBackend() {
    stop();
}

void ConsoleBackend::start(EventChannels& events, std::uint32_t port) {
    events_ = &events;
    port_ = port;
    shared(ring_.connection).store(0);
    thread_ = std::thread([this] { thread_main(); });
}

void ConsoleBackend::stop() {
    if (!thread_.joinable()) return;
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_.get(), &one, sizeof(one));
    thread_.join();
    drain_output();
}

void ConsoleBackend::thread_main() {
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

void ConsoleBackend::drain_output() {
    // The guest owns out_prod; read it once, reject impossible values, copy, then
    // publish out_cons so the guest may reuse the space.
    constexpr XENCONS_RING_IDX kSize = sizeof(ring_.out);
    std::lock_guard lock(drain_mutex_);  // the console thread and console_io both drain
    XENCONS_RING_IDX cons = shared(ring_.out_cons).load(std::memory_order_relaxed);
    XENCONS_RING_IDX prod = shared(ring_.out_prod).load(std::memory_order_acquire);
    XENCONS_RING_IDX used = prod - cons;
    if (used == 0) return;
    if (used > kSize) {
        static log::RateLimit limit;
        if (limit.allow())
            DOMUS_LOG_WARN("console", "guest console ring index out of range ({} bytes)", used);
        shared(ring_.out_cons).store(prod, std::memory_order_release);  // resynchronise
        return;
    }
    char copy[kSize];
    for (XENCONS_RING_IDX i = 0; i < used; ++i)
        copy[i] = ring_.out[MASK_XENCONS_IDX(cons + i, ring_.out)];
    shared(ring_.out_cons).store(prod, std::memory_order_release);
    write_all(copy, used);
    bytes_out_.fetch_add(used, std::memory_order_relaxed);
    // A guest that found the ring full waits for space: tell it when the ring was at
    // least half full (the guest contract in console.h); smaller drains stay silent.
    if (used >= kSize / 2 && events_) {
        notifications_.fetch_add(1, std::memory_order_relaxed);
        events_->raise(port_);
    }
}

void ConsoleBackend::feed_input() {
    constexpr XENCONS_RING_IDX kSize = sizeof(ring_.in);
    std::lock_guard lock(input_mutex_);
    if (pending_input_.empty()) return;
    XENCONS_RING_IDX prod = shared(ring_.in_prod).load(std::memory_order_relaxed);
    XENCONS_RING_IDX cons = shared(ring_.in_cons).load(std::memory_order_acquire);
    XENCONS_RING_IDX used = prod - cons;
    if (used > kSize) used = kSize;  // a confused guest: just stop feeding
    std::size_t room = std::min<std::size_t>(kSize - used, pending_input_.size());
    for (std::size_t i = 0; i < room; ++i)
        ring_.in[MASK_XENCONS_IDX(prod + i, ring_.in)] = pending_input_[i];
    shared(ring_.in_prod).store(prod + XENCONS_RING_IDX(room), std::memory_order_release);
    pending_input_.erase(0, room);
    if (room && events_) events_->raise(port_);
}

void ConsoleBackend::write_direct(const char* data, std::size_t length) {
    drain_output();  // keep ring output that came first ahead of this
    write_all(data, length);
}

std::size_t ConsoleBackend::read_direct(char* data, std::size_t length) {
    std::lock_guard lock(input_mutex_);
    std::size_t n = std::min(length, pending_input_.size());
    std::copy_n(pending_input_.data(), n, data);
    pending_input_.erase(0, n);
    return n;
}

constexpr std::size_t kHistoryBytes = 64 * 1024;

void ConsoleBackend::write_all(const char* data, std::size_t length) {
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

void ConsoleBackend::set_output(int fd, bool replay) {
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

void ConsoleBackend::push_input(std::string_view bytes) {
    {
        std::lock_guard lock(input_mutex_);
        pending_input_.append(bytes);
    }
    feed_input();
}

}  // namespace domus::monitor
