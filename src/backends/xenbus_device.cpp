// XenbusDevice: publishing, the XenBus state machine's backend half, the device thread.
#include "backends/xenbus_device.hpp"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "base/log.hpp"

#include <domus/abi/blkif.h>  // enum xenbus_state

namespace domus::backends {
namespace {

void signal(int eventfd) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(eventfd, &one, sizeof(one));
}

void drain(int eventfd) {
    std::uint64_t value;
    [[maybe_unused]] auto n = ::read(eventfd, &value, sizeof(value));
}

}  // namespace

Result<std::uint32_t> parse_frontend_u32(std::string_view text, const char* key) {
    std::uint64_t value = 0;
    bool digits = !text.empty() && text.size() <= 10;
    for (char c : text) {
        digits = digits && c >= '0' && c <= '9';
        if (digits) value = value * 10 + std::uint64_t(c - '0');
    }
    if (!digits || value > 0xFFFFFFFFull)
        return make_error("bad {} \"{}\"", key, log::escape(text));
    return std::uint32_t(value);
}

XenbusDevice::XenbusDevice(std::unique_ptr<BackendHost> host, std::string type, std::uint32_t devid,
                           std::string name)
    : host_(std::move(host)),
      name_(std::move(name)),
      type_(std::move(type)),
      stop_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      task_wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    std::string domid = std::to_string(host_->frontend_id());
    std::string id = std::to_string(devid);
    frontend_dir_ = "/local/domain/" + domid + "/device/" + type_ + "/" + id;
    backend_dir_ = "/local/domain/0/backend/" + type_ + "/" + domid + "/" + id;
}

XenbusDevice::~XenbusDevice() {
    // The derived device stopped the thread already (its hooks are gone by now).
    stop();
    (void)store().remove(frontend_dir_);
    (void)store().remove(backend_dir_);
}

Result<void> XenbusDevice::publish() {
    if (!stop_ || !task_wake_) return errno_error("eventfd");
    // What Xen's toolstack writes (both directories, state 1) and what the device adds,
    // in one transaction as libxl does: the guest never sees half a device. The guest's
    // device directories are dom0's and readable by the guest; its own device directory
    // is the guest's, readable by dom0 (as libxl sets them).
    std::string domid = std::to_string(host_->frontend_id());
    DOMUS_TRY_VOID(store().transact([&](XenbusTransaction& t) -> Result<void> {
        std::string devices = "/local/domain/" + domid + "/device";
        DOMUS_TRY_VOID(t.mkdir(devices + "/" + type_));
        DOMUS_TRY_VOID(t.set_perms(devices, {"n0", "r" + domid}));
        DOMUS_TRY_VOID(t.set_perms(devices + "/" + type_, {"n0", "r" + domid}));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/frontend", frontend_dir_));
        DOMUS_TRY_VOID(t.set_perms(backend_dir_, {"n0", "r" + domid}));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/frontend-id", domid));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/online", "1"));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/state", "1"));
        DOMUS_TRY_VOID(t.write(frontend_dir_ + "/backend", backend_dir_));
        DOMUS_TRY_VOID(t.set_perms(frontend_dir_, {"n" + domid, "r0"}));
        DOMUS_TRY_VOID(t.write(frontend_dir_ + "/backend-id", "0"));
        DOMUS_TRY_VOID(t.write(frontend_dir_ + "/state", "1"));
        return publish_keys(t);
    }));
    DOMUS_TRY_VOID(store().watch(frontend_dir_ + "/state", type_ + "-frontend"));
    return set_backend_state(XenbusStateInitWait);
}

Result<void> XenbusDevice::set_backend_state(int state) {
    backend_state_ = state;
    return store().write(backend_dir_ + "/state", std::to_string(state));
}

Result<std::uint32_t> XenbusDevice::read_frontend_u32(const char* key) {
    DOMUS_TRY(text, store().read(frontend_dir_ + "/" + key));
    return parse_frontend_u32(text, key);
}

Result<void> XenbusDevice::take_ring(const char* ring_key, const char* port_key, int doorbell_fd,
                                     std::unique_ptr<MappedPages>& ring) {
    const char* keys[1] = {ring_key};
    return take_rings(keys, port_key, doorbell_fd, ring);
}

Result<void> XenbusDevice::take_rings(std::span<const char* const> ring_keys, const char* port_key,
                                      int doorbell_fd, std::unique_ptr<MappedPages>& rings) {
    std::vector<grant_ref_t> refs;
    for (const char* key : ring_keys) {
        DOMUS_TRY(ref, read_frontend_u32(key));
        refs.push_back(grant_ref_t(ref));
    }
    DOMUS_TRY(port, read_frontend_u32(port_key));
    DOMUS_TRY_VOID(host_->map_grants(refs, true, rings));
    if (auto bound = host_->bind_frontend(evtchn_port_t(port), doorbell_fd); !bound) {
        if (rings) rings->release();
        return bound;
    }
    DOMUS_LOG_DEBUG("xenbus", "{}: {} ring(s) from {}, {} {}", name_, refs.size(), ring_keys[0],
                    port_key, port);
    return {};
}

void XenbusDevice::start() {
    thread_ = std::thread([this] { thread_main(); });
}

void XenbusDevice::stop() {
    if (!thread_.joinable()) return;
    signal(stop_.get());
    thread_.join();
}

void XenbusDevice::thread_main() {
    // Named after the device (top -H, perf): the kernel keeps 15 characters.
    ::pthread_setname_np(::pthread_self(), name_.substr(0, 15).c_str());
    for (;;) {
        // Queued watch events first (a request may have read them off the socket).
        while (auto event = store().next_event(false)) {
            if (!*event) break;
            frontend_changed();
        }
        before_poll();
        pollfd fds[3 + kMaxDeviceFds] = {
            {store().fd(), POLLIN, 0}, {stop_.get(), POLLIN, 0}, {task_wake_.get(), POLLIN, 0}};
        std::size_t count =
            3 + device_fds(std::span<pollfd, kMaxDeviceFds>(fds + 3, kMaxDeviceFds));
        // poll skips fds < 0: a device's fd that is not in use this round.
        if (::poll(fds, nfds_t(count), -1) < 0) {
            if (errno == EINTR) continue;
            DOMUS_LOG_ERROR("xenbus", "{}: poll: {}", name_, std::strerror(errno));
            break;
        }
        if (fds[1].revents) break;
        // A task or a frontend state change may change what the device serves (a
        // prepared image swap freezes it; a disconnect drops its ring): what this poll
        // saw of the device's fds is then stale, so poll again (still-ready fds report at
        // once). Serving a doorbell seen before a swap was prepared would write to the
        // image the snapshot froze.
        bool changed = false;
        if (fds[0].revents & (POLLIN | POLLHUP)) {
            auto event = store().next_event(true);
            if (!event) {
                DOMUS_LOG_WARN("xenbus", "{}: store connection lost: {}", name_,
                               event.error().message);
                break;
            }
            frontend_changed();
            changed = true;
        }
        if (fds[2].revents & POLLIN) {
            run_tasks();
            changed = true;
        }
        if (!changed) device_ready(std::span<const pollfd>(fds + 3, count - 3));
    }
    on_stop();
    do_disconnect();
    std::deque<std::packaged_task<Result<void>()>> orphans;
    {
        std::lock_guard lock(tasks_mutex_);
        thread_ended_ = true;
        orphans.swap(tasks_);
    }
    for (auto& task : orphans)
        task();  // their callers wait; the device is gone, which the tasks find out
}

Result<void> XenbusDevice::run_on_thread(std::function<Result<void>()> task) {
    std::packaged_task<Result<void>()> packaged(std::move(task));
    auto result = packaged.get_future();
    {
        std::lock_guard lock(tasks_mutex_);
        if (thread_ended_ || !thread_.joinable())
            return make_error("{}: the device is not running", name_);
        tasks_.push_back(std::move(packaged));
    }
    signal(task_wake_.get());
    return result.get();
}

void XenbusDevice::run_tasks() {
    drain(task_wake_.get());
    for (;;) {
        std::packaged_task<Result<void>()> task;
        {
            std::lock_guard lock(tasks_mutex_);
            if (tasks_.empty()) return;
            task = std::move(tasks_.front());
            tasks_.pop_front();
        }
        task();
    }
}

void XenbusDevice::frontend_changed() {
    auto text = store().read(frontend_dir_ + "/state");
    int state = text ? std::atoi(text->c_str()) : XenbusStateClosed;  // gone: Closed
    if (detaching_) {
        // Never (re)connect a device on its way out; release it once the frontend let go.
        if (connected_ && state != XenbusStateConnected && state != XenbusStateInitialised)
            do_disconnect();
        if (!connected_ && state != XenbusStateConnected && state != XenbusStateClosing) {
            (void)set_backend_state(XenbusStateClosed);
            released_.store(true, std::memory_order_release);
        }
        return;
    }
    if ((state == XenbusStateInitialised || state == XenbusStateConnected) && !connected_) {
        if (auto done = connect(); !done) {
            host_->unbind_frontend();  // the device kept nothing else of a failed connect
            static log::RateLimit limit;
            if (limit.allow())
                DOMUS_LOG_WARN("xenbus", "{}: cannot connect: {}", name_, done.error().message);
            (void)set_backend_state(XenbusStateClosing);
            return;
        }
        connected_ = true;
        (void)set_backend_state(XenbusStateConnected);
        DOMUS_LOG_DEBUG("xenbus", "{} connected", name_);
        connected_hook();
    } else if (state == XenbusStateClosing || state == XenbusStateClosed) {
        // Follow it down; once it is Closed, wait for a new frontend (as Linux's backends
        // do), whether it was connected or refused.
        do_disconnect();
        if (state == XenbusStateClosing && backend_state_ != XenbusStateClosing)
            (void)set_backend_state(XenbusStateClosing);
        if (state == XenbusStateClosed && backend_state_ != XenbusStateInitWait) {
            (void)set_backend_state(XenbusStateClosed);
            (void)set_backend_state(XenbusStateInitWait);
        }
    }
}

void XenbusDevice::do_disconnect() {
    if (!connected_) return;
    disconnect();
    host_->unbind_frontend();
    connected_ = false;
}

void XenbusDevice::fail_frontend(std::string_view why) {
    static log::RateLimit limit;
    if (limit.allow())
        DOMUS_LOG_WARN("xenbus", "{}: frontend misbehaved ({}); device closed", name_, why);
    do_disconnect();
    (void)set_backend_state(XenbusStateClosing);
}

Result<void> XenbusDevice::begin_detach() {
    return run_on_thread([this]() -> Result<void> {
        detaching_ = true;
        DOMUS_TRY_VOID(store().write(backend_dir_ + "/online", "0"));
        DOMUS_TRY_VOID(set_backend_state(XenbusStateClosing));
        frontend_changed();  // a frontend that is not connected is released at once
        return {};
    });
}

void XenbusDevice::announce_closed() {
    (void)run_on_thread([this]() -> Result<void> {
        do_disconnect();
        return set_backend_state(XenbusStateClosed);
    });
}

}  // namespace domus::backends
