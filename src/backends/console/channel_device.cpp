// ChannelDevice: the XenBus handshake of a secondary console (reference sections 6.3 and
// 10) and the thread that glues its ring to a UNIX socket.
#include "backends/console/channel_device.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "base/log.hpp"
#include "base/unix_socket.hpp"

namespace domus::backends {
namespace {

constexpr std::size_t kIoChunk = 4096;

void drain_eventfd(int fd) {
    std::uint64_t value;
    [[maybe_unused]] auto n = ::read(fd, &value, sizeof(value));
}

}  // namespace

Result<std::unique_ptr<ChannelDevice>> ChannelDevice::create(std::unique_ptr<BackendHost> host,
                                                             const config::ChannelConfig& config) {
    std::unique_ptr<ChannelDevice> device(new ChannelDevice(std::move(host), config));
    if (!device->doorbell_) return errno_error("eventfd");
    if (auto listening = device->listen(); !listening)
        return make_error("channel {}: {}", config.name, listening.error().message);
    if (auto published = device->publish(); !published)
        return make_error("channel {}: {}", config.name, published.error().message);
    return device;
}

ChannelDevice::ChannelDevice(std::unique_ptr<BackendHost> host, config::ChannelConfig config)
    : XenbusDevice(std::move(host), "console", config.devid, "channel " + config.name),
      config_(std::move(config)),
      doorbell_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

ChannelDevice::~ChannelDevice() {
    stop();
    client_.reset();
    if (listener_.get() >= 0) {
        // Only the socket we bound: someone may have replaced the file since.
        struct stat st {};
        if (::lstat(config_.socket_path.c_str(), &st) == 0 && st.st_dev == socket_dev_ &&
            st.st_ino == socket_ino_)
            ::unlink(config_.socket_path.c_str());
        listener_.reset();
    }
}

Result<void> ChannelDevice::listen() {
    const std::string& path = config_.socket_path;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(address.sun_path))
        return make_error("socket path \"{}\" is empty or too long", path);
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    // A socket file left by a monitor that died is replaced; a live listener or any
    // other kind of file is not touched.
    DOMUS_TRY_VOID(remove_stale_socket(path));
    struct stat st {};
    Fd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (listener.get() < 0) return errno_error("socket");
    if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) < 0)
        return errno_error("bind " + path);
    if (::listen(listener.get(), 4) < 0 || ::lstat(path.c_str(), &st) < 0) {
        auto error = errno_error("listen " + path);
        ::unlink(path.c_str());
        return error;
    }
    socket_dev_ = st.st_dev;
    socket_ino_ = st.st_ino;
    listener_ = std::move(listener);
    return {};
}

Result<void> ChannelDevice::publish_keys(XenbusTransaction& t) {
    // What libxl writes for a channel besides the common keys (the name in both
    // directories, the connection only in the backend, the read-only frontend keys owned
    // by dom0), then what a console backend adds.
    std::string domid = std::to_string(host().frontend_id());
    DOMUS_TRY_VOID(t.write(backend_dir() + "/protocol", "vt100"));
    DOMUS_TRY_VOID(t.write(backend_dir() + "/name", config_.name));
    DOMUS_TRY_VOID(t.write(backend_dir() + "/connection", "socket"));
    DOMUS_TRY_VOID(t.write(backend_dir() + "/path", config_.socket_path));
    const std::pair<const char*, std::string> read_only[] = {
        {"name", config_.name},
        {"limit", std::to_string(kOutputLimit)},
        {"type", "ioemu"},  // the backend is not xenconsoled (which serves console 0 only)
        {"output", "chardev:domus-channel" + std::to_string(config_.devid)},
    };
    for (const auto& [key, value] : read_only) {
        DOMUS_TRY_VOID(t.write(frontend_dir() + "/" + key, value));
        DOMUS_TRY_VOID(t.set_perms(frontend_dir() + "/" + key, {"n0", "r" + domid}));
    }
    return {};
}

void ChannelDevice::before_poll() {
    pump();
    if (client_.get() >= 0 && !to_client_.empty() && !write_client()) drop_client();
}

std::size_t ChannelDevice::device_fds(std::span<pollfd, kMaxDeviceFds> fds) {
    short client_events = 0;
    if (client_.get() >= 0) {
        if (to_guest_.size() < kInputLimit && !client_done_writing_) client_events |= POLLIN;
        if (!to_client_.empty()) client_events |= POLLOUT;
    }
    // poll skips fds < 0: the listener while a client is served, a missing client.
    fds[0] = {doorbell_.get(), POLLIN, 0};
    fds[1] = {client_.get() >= 0 ? -1 : listener_.get(), POLLIN, 0};
    fds[2] = {client_.get(), client_events, 0};
    return 3;
}

void ChannelDevice::device_ready(std::span<const pollfd> fds) {
    if (fds[0].revents & POLLIN) drain_eventfd(doorbell_.get());
    if (fds[1].revents & POLLIN) accept_client();
    if (fds[2].revents & POLLIN) {
        if (!read_client()) drop_client();
    }
    if (client_.get() >= 0 && (fds[2].revents & POLLOUT)) {
        if (!write_client()) drop_client();
    }
    if (client_.get() >= 0 && (fds[2].revents & (POLLHUP | POLLERR))) {
        // Closed both ways (POLLHUP is reported whatever we asked for): keep what it
        // sent last, beyond kInputLimit if need be (a socket buffer's worth at most),
        // so that nothing is lost and poll does not spin on the hang-up.
        char buffer[kIoChunk];
        ssize_t n;
        while ((n = ::read(client_.get(), buffer, sizeof(buffer))) > 0)
            to_guest_.append(buffer, std::size_t(n));
        drop_client();
    }
}

void ChannelDevice::on_stop() {
    // Only take: the guest is gone, nobody to notify.
    if (connected() && to_client_.size() < kOutputLimit)
        (void)ring_->take_output(to_client_, kOutputLimit - to_client_.size());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (client_.get() >= 0 && !to_client_.empty()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{client_.get(), POLLOUT, 0};
        if (left.count() <= 0 || ::poll(&p, 1, int(left.count())) <= 0 || !write_client()) break;
    }
}

void ChannelDevice::accept_client() {
    int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;  // gone again before we took it
    client_ = Fd(fd);
    client_done_writing_ = false;
    DOMUS_LOG_DEBUG("channel", "{}: client connected", config_.name);
}

bool ChannelDevice::read_client() {
    std::size_t room = kInputLimit - std::min(kInputLimit, to_guest_.size());
    if (room == 0) return true;
    char buffer[kIoChunk];
    ssize_t n = ::read(client_.get(), buffer, std::min(room, sizeof(buffer)));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    if (n < 0) return false;  // the client is gone; the bytes it sent are kept
    if (n == 0) {
        // It will send no more but may still read: keep serving its output until it
        // closes (POLLHUP) or a write fails.
        client_done_writing_ = true;
        return true;
    }
    to_guest_.append(buffer, std::size_t(n));
    return true;
}

bool ChannelDevice::write_client() {
    while (!to_client_.empty()) {
        ssize_t n = ::send(client_.get(), to_client_.data(), to_client_.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return true;
        if (n <= 0) return false;
        to_client_.erase(0, std::size_t(n));
    }
    return true;
}

void ChannelDevice::drop_client() {
    // What the client did not receive stays for the next one.
    client_.reset();
    DOMUS_LOG_DEBUG("channel", "{}: client disconnected", config_.name);
}

void ChannelDevice::pump() {
    if (!connected()) return;
    bool moved = false;
    if (to_client_.size() < kOutputLimit) {
        auto taken = ring_->take_output(to_client_, kOutputLimit - to_client_.size());
        if (!taken) return fail_frontend("out_prod out of range");
        moved |= *taken > 0;
    }
    if (!to_guest_.empty()) {
        auto put = ring_->put_input(to_guest_);
        if (!put) return fail_frontend("in_cons out of range");
        to_guest_.erase(0, *put);
        moved |= *put > 0;
    }
    // Space freed on `out` (a writer may wait for it) or bytes arrived on `in`.
    if (moved) host().notify_frontend();
}

Result<void> ChannelDevice::connect() {
    // Xen's console frontends publish `ring-ref` (a grant ref for secondary consoles)
    // and `port` (an unbound event channel for the backend domain).
    DOMUS_TRY_VOID(take_ring("ring-ref", "port", doorbell_.get(), ring_page_));
    ring_.emplace(ring_page_->page(0));
    return {};
}

void ChannelDevice::disconnect() {
    // The client stays connected: the guest may connect again.
    host().unbind_frontend();
    ring_.reset();
    ring_page_->release();
}

}  // namespace domus::backends
