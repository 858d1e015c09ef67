// ChannelDevice: the XenBus handshake of a secondary console (reference sections 6.3 and
// 10) and the thread that glues its ring to a UNIX socket.
#include "monitor/channel_device.hpp"

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
#include "monitor/domain.hpp"
#include "monitor/xenbus_backend.hpp"

#include <domus/abi/blkif.h>  // enum xenbus_state

namespace domus::monitor {
namespace {

constexpr std::size_t kIoChunk = 4096;

void drain_eventfd(int fd) {
    std::uint64_t value;
    [[maybe_unused]] auto n = ::read(fd, &value, sizeof(value));
}

}  // namespace

Result<std::unique_ptr<ChannelDevice>> ChannelDevice::create(Domain& domain,
                                                             const config::ChannelConfig& config,
                                                             const std::string& store_socket) {
    DOMUS_TRY(store, store::Client::connect(store_socket));
    std::unique_ptr<ChannelDevice> device(new ChannelDevice(domain, config, std::move(store)));
    device->doorbell_ = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    device->stop_ = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (device->doorbell_.get() < 0 || device->stop_.get() < 0) return errno_error("eventfd");
    if (auto listening = device->listen(); !listening)
        return make_error("channel {}: {}", config.name, listening.error().message);
    if (auto published = device->publish(); !published)
        return make_error("channel {}: {}", config.name, published.error().message);
    return device;
}

ChannelDevice::ChannelDevice(Domain& domain, config::ChannelConfig config, store::Client store)
    : domain_(domain), config_(std::move(config)), store_(std::move(store)) {
    std::string domid = std::to_string(domain_.config().domid);
    std::string devid = std::to_string(config_.devid);
    frontend_dir_ = "/local/domain/" + domid + "/device/console/" + devid;
    backend_dir_ = "/local/domain/0/backend/console/" + domid + "/" + devid;
}

ChannelDevice::~ChannelDevice() {
    if (thread_.joinable()) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(stop_.get(), &one, sizeof(one));
        thread_.join();
    }
    disconnect();
    client_.reset();
    if (listener_.get() >= 0) {
        // Only the socket we bound: someone may have replaced the file since.
        struct stat st {};
        if (::lstat(config_.socket_path.c_str(), &st) == 0 && st.st_dev == socket_dev_ &&
            st.st_ino == socket_ino_)
            ::unlink(config_.socket_path.c_str());
        listener_.reset();
    }
    (void)store_.remove(frontend_dir_);
    (void)store_.remove(backend_dir_);
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
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return make_error("{} exists and is not a socket; not replacing it", path);
        Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0)
            return make_error("{} is in use by another listener", path);
        ::unlink(path.c_str());
    }
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

Result<void> ChannelDevice::publish() {
    // What libxl writes for a channel (both directories, state 1; the name in both, the
    // connection only in the backend, the read-only frontend keys owned by dom0), then
    // what a console backend adds, in one transaction as libxl does; then the backend
    // waits for its frontend (state InitWait).
    std::string domid = std::to_string(domain_.config().domid);
    DOMUS_TRY_VOID(store_.transact([&](store::Transaction& t) -> Result<void> {
        std::string devices = "/local/domain/" + domid + "/device";
        DOMUS_TRY_VOID(t.mkdir(devices + "/console"));
        DOMUS_TRY_VOID(t.set_perms(devices, {"n0", "r" + domid}));
        DOMUS_TRY_VOID(t.set_perms(devices + "/console", {"n0", "r" + domid}));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/frontend", frontend_dir_));
        DOMUS_TRY_VOID(t.set_perms(backend_dir_, {"n0", "r" + domid}));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/frontend-id", domid));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/online", "1"));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/state", "1"));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/protocol", "vt100"));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/name", config_.name));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/connection", "socket"));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/path", config_.socket_path));
        DOMUS_TRY_VOID(t.write(frontend_dir_ + "/backend", backend_dir_));
        DOMUS_TRY_VOID(t.set_perms(frontend_dir_, {"n" + domid, "r0"}));
        DOMUS_TRY_VOID(t.write(frontend_dir_ + "/backend-id", "0"));
        DOMUS_TRY_VOID(t.write(frontend_dir_ + "/state", "1"));
        const std::pair<const char*, std::string> read_only[] = {
            {"name", config_.name},
            {"limit", std::to_string(kOutputLimit)},
            {"type", "ioemu"},  // the backend is not xenconsoled (which serves console 0 only)
            {"output", "chardev:domus-channel" + std::to_string(config_.devid)},
        };
        for (const auto& [key, value] : read_only) {
            DOMUS_TRY_VOID(t.write(frontend_dir_ + "/" + key, value));
            DOMUS_TRY_VOID(t.set_perms(frontend_dir_ + "/" + key, {"n0", "r" + domid}));
        }
        return {};
    }));
    DOMUS_TRY_VOID(store_.watch(frontend_dir_ + "/state", "console-frontend"));
    return set_backend_state(XenbusStateInitWait);
}

Result<void> ChannelDevice::set_backend_state(int state) {
    return store_.write(backend_dir_ + "/state", std::to_string(state));
}

void ChannelDevice::start() {
    thread_ = std::thread([this] { thread_main(); });
}

void ChannelDevice::thread_main() {
    for (;;) {
        while (auto event = store_.next_event(false)) {
            if (!*event) break;
            frontend_changed();
        }
        pump();
        if (client_.get() >= 0 && !to_client_.empty() && !write_client()) drop_client();
        short client_events = 0;
        if (client_.get() >= 0) {
            if (to_guest_.size() < kInputLimit && !client_done_writing_) client_events |= POLLIN;
            if (!to_client_.empty()) client_events |= POLLOUT;
        }
        // poll skips fds < 0: the listener while a client is served, a missing client.
        pollfd fds[5] = {{store_.fd(), POLLIN, 0},
                         {doorbell_.get(), POLLIN, 0},
                         {stop_.get(), POLLIN, 0},
                         {client_.get() >= 0 ? -1 : listener_.get(), POLLIN, 0},
                         {client_.get(), client_events, 0}};
        if (::poll(fds, 5, -1) < 0 && errno != EINTR) {
            DOMUS_LOG_ERROR("channel", "{}: poll: {}", config_.name, std::strerror(errno));
            break;
        }
        if (fds[2].revents) break;
        if (fds[0].revents & (POLLIN | POLLHUP)) {
            auto event = store_.next_event(true);
            if (!event) {
                DOMUS_LOG_WARN("channel", "{}: store connection lost: {}", config_.name,
                               event.error().message);
                break;
            }
            frontend_changed();
        }
        if (fds[1].revents & POLLIN) drain_eventfd(doorbell_.get());
        if (fds[3].revents & POLLIN) accept_client();
        if (fds[4].revents & POLLIN) {
            if (!read_client()) drop_client();
        }
        if (client_.get() >= 0 && (fds[4].revents & POLLOUT)) {
            if (!write_client()) drop_client();
        }
        if (client_.get() >= 0 && (fds[4].revents & (POLLHUP | POLLERR))) {
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
    finish();
    disconnect();
}

void ChannelDevice::finish() {
    if (connected_) {
        // Only take: the guest is gone, nobody to notify.
        if (to_client_.size() < kOutputLimit)
            (void)ring_->take_output(to_client_, kOutputLimit - to_client_.size());
    }
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
    if (!connected_) return;
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
    if (moved && channel_) channel_->notify();
}

void ChannelDevice::frontend_changed() {
    follow_frontend(
        frontend_state(store_, frontend_dir_), connected_, [this] { return connect(); },
        [this] { disconnect(); }, [this](int state) { return set_backend_state(state); },
        "channel " + config_.name);
}

Result<void> ChannelDevice::connect() {
    // Xen's console frontends publish `ring-ref` (a grant ref for secondary consoles)
    // and `port` (an unbound event channel for the backend domain).
    DOMUS_TRY(ref, read_frontend_u32(store_, frontend_dir_, "ring-ref"));
    DOMUS_TRY(port, read_frontend_u32(store_, frontend_dir_, "port"));
    DOMUS_TRY(page, domain_.grants().map(0, grant_ref_t(ref), true));
    DOMUS_TRY(channel, BackendChannel::bind(domain_, evtchn_port_t(port), doorbell_.get()));
    channel_.emplace(std::move(channel));
    ring_page_ = std::move(page);
    ring_.emplace(ring_page_.page());
    connected_ = true;
    DOMUS_TRY_VOID(set_backend_state(XenbusStateConnected));
    DOMUS_LOG_DEBUG("channel", "{} connected: ring-ref {}, port {}", config_.name, ref, port);
    return {};
}

void ChannelDevice::fail_frontend(const char* why) {
    // The frontend broke the ring protocol: stop serving it and say so through XenBus
    // (Closing), so its driver gives up instead of waiting. The client stays connected.
    static log::RateLimit limit;
    if (limit.allow())
        DOMUS_LOG_WARN("channel", "{}: frontend misbehaved ({}); channel closed", config_.name,
                       why);
    disconnect();
    (void)set_backend_state(XenbusStateClosing);
}

void ChannelDevice::disconnect() {
    if (!connected_) return;
    channel_.reset();
    ring_.reset();
    ring_page_.reset();
    connected_ = false;
}

}  // namespace domus::monitor
