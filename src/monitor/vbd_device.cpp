// VbdDevice: XenBus negotiation (section 10 of the reference) and the ring thread.
#include "monitor/vbd_device.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/log.hpp"
#include "monitor/domain.hpp"
#include "monitor/granted_pages.hpp"
#include "monitor/guest_clock.hpp"
#include "monitor/xenbus_backend.hpp"

namespace domus::monitor {
namespace {

constexpr std::uint32_t kMaxIndirectSegments = 256;

// The one place a configured disk format becomes storage's (config knows no storage).
storage::Format storage_format(config::DiskFormat format) {
    return format == config::DiskFormat::qcow2 ? storage::Format::qcow2 : storage::Format::raw;
}

}  // namespace

Result<std::unique_ptr<VbdDevice>> VbdDevice::create(Domain& domain,
                                                     const config::VbdConfig& config,
                                                     const std::string& store_socket) {
    auto image = storage::open_image(config.target, storage_format(config.format), config.read_only,
                                     config.direct_io);
    if (!image) return make_error("disk {}: {}", config.vdev, image.error().message);
    DOMUS_TRY(store, store::Client::connect(store_socket));
    std::unique_ptr<VbdDevice> device(
        new VbdDevice(domain, config, std::move(image).value(), std::move(store)));
    device->doorbell_ = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    device->stop_ = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    device->task_wake_ = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    DOMUS_TRY_VOID(device->publish());
    return device;
}

VbdDevice::VbdDevice(Domain& domain, config::VbdConfig config,
                     std::unique_ptr<storage::BlockImage> image, store::Client store)
    : domain_(domain),
      config_(std::move(config)),
      image_(std::move(image)),
      store_(std::move(store)) {
    std::string domid = std::to_string(domain_.config().domid);
    std::string devid = std::to_string(config_.virtual_device);
    frontend_dir_ = "/local/domain/" + domid + "/device/vbd/" + devid;
    backend_dir_ = "/local/domain/0/backend/vbd/" + domid + "/" + devid;
}

VbdDevice::~VbdDevice() {
    if (thread_.joinable()) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(stop_.get(), &one, sizeof(one));
        thread_.join();
    }
    (void)store_.remove(frontend_dir_);
    (void)store_.remove(backend_dir_);
}

Result<void> VbdDevice::publish() {
    // What Xen's toolstack writes (both directories, state 1) and what blkback adds
    // (features, capacity), in one transaction as libxl does: the guest never sees half
    // a device. Then the backend waits for its frontend (state InitWait).
    std::string domid = std::to_string(domain_.config().domid);
    DOMUS_TRY_VOID(store_.transact([&](store::Transaction& t) -> Result<void> {
        // The guest's device directory is dom0's and readable by the guest (as libxl).
        std::string devices = "/local/domain/" + domid + "/device";
        DOMUS_TRY_VOID(t.mkdir(devices + "/vbd"));
        DOMUS_TRY_VOID(t.set_perms(devices, {"n0", "r" + domid}));
        DOMUS_TRY_VOID(t.set_perms(devices + "/vbd", {"n0", "r" + domid}));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/frontend", frontend_dir_));
        DOMUS_TRY_VOID(t.set_perms(backend_dir_, {"n0", "r" + domid}));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/frontend-id", domid));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/online", "1"));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/state", "1"));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/mode", config_.read_only ? "r" : "w"));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/dev", config_.vdev));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/type", "qdisk"));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/device-type", "disk"));
        DOMUS_TRY_VOID(
            t.write(backend_dir_ + "/params",
                    std::string(config::disk_format_name(config_.format)) + ":" + config_.target));
        DOMUS_TRY_VOID(t.write(frontend_dir_ + "/backend", backend_dir_));
        DOMUS_TRY_VOID(t.set_perms(frontend_dir_, {"n" + domid, "r0"}));
        DOMUS_TRY_VOID(t.write(frontend_dir_ + "/backend-id", "0"));
        DOMUS_TRY_VOID(
            t.write(frontend_dir_ + "/virtual-device", std::to_string(config_.virtual_device)));
        DOMUS_TRY_VOID(t.write(frontend_dir_ + "/device-type", "disk"));
        DOMUS_TRY_VOID(t.write(frontend_dir_ + "/state", "1"));
        // Only what is served is advertised.
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/sectors",
                               std::to_string(image_->size_bytes() / storage::kSectorSize)));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/sector-size", "512"));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/info", config_.read_only ? "4" : "0"));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/feature-flush-cache", "1"));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/feature-barrier", "1"));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/feature-discard",
                               config_.discard && !config_.read_only ? "1" : "0"));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/discard-granularity", "512"));
        DOMUS_TRY_VOID(t.write(backend_dir_ + "/feature-max-indirect-segments",
                               std::to_string(kMaxIndirectSegments)));
        return {};
    }));
    DOMUS_TRY_VOID(store_.watch(frontend_dir_ + "/state", "vbd-frontend"));
    return set_backend_state(XenbusStateInitWait);
}

Result<void> VbdDevice::set_backend_state(int state) {
    return store_.write(backend_dir_ + "/state", std::to_string(state));
}

void VbdDevice::start() {
    thread_ = std::thread([this] { thread_main(); });
}

backends::BlkStats VbdDevice::stats() const {
    std::lock_guard lock(stats_mutex_);
    return stats_;
}

Result<void> VbdDevice::map_grants(std::span<const grant_ref_t> refs, bool writable,
                                   std::unique_ptr<backends::MappedPages>& pages) {
    return GrantedPages::map(domain_.grants(), 0, refs, writable, pages);
}

void VbdDevice::notify_frontend() {
    if (channel_) channel_->notify();
}

void VbdDevice::thread_main() {
    for (;;) {
        // Queued watch events first (a request may have read them off the socket).
        while (auto event = store_.next_event(false)) {
            if (!*event) break;
            frontend_changed();
        }
        // While a swap is prepared, requests wait (the doorbell stays unread).
        bool serving = connected_ && !frozen_;
        // The I/O completions of an asynchronous backend too (poll skips a -1 fd).
        pollfd fds[5] = {{store_.fd(), POLLIN, 0},
                         {serving ? doorbell_.get() : -1, POLLIN, 0},
                         {stop_.get(), POLLIN, 0},
                         {serving ? blkback_->completion_fd() : -1, POLLIN, 0},
                         {task_wake_.get(), POLLIN, 0}};
        if (::poll(fds, 5, -1) < 0 && errno != EINTR) break;
        if (fds[2].revents) break;
        if (fds[0].revents & (POLLIN | POLLHUP)) {
            auto event = store_.next_event(true);
            if (!event) {
                DOMUS_LOG_WARN("vbd", "{}: store connection lost: {}", config_.vdev,
                               event.error().message);
                break;
            }
            frontend_changed();
        }
        if (fds[1].revents & POLLIN) serve_doorbell();
        if (fds[3].revents & POLLIN) {
            // complete() resets the eventfd itself, then answers what finished.
            if (connected_ && !blkback_->complete()) fail_frontend();
        }
        if (fds[4].revents & POLLIN) run_tasks();
        if (((fds[1].revents | fds[3].revents) & POLLIN) && blkback_) {
            std::lock_guard lock(stats_mutex_);
            stats_ = backends::combine(retired_stats_, blkback_->stats());
        }
    }
    disconnect();
    std::deque<std::packaged_task<Result<void>()>> orphans;
    {
        std::lock_guard lock(tasks_mutex_);
        thread_ended_ = true;
        orphans.swap(tasks_);
    }
    for (auto& task : orphans)
        task();  // their callers wait; the device is gone, which the tasks find out
}

void VbdDevice::serve_doorbell() {
    std::uint64_t value;
    [[maybe_unused]] auto n = ::read(doorbell_.get(), &value, sizeof(value));
    if (connected_ && !blkback_->process()) fail_frontend();
}

Result<void> VbdDevice::run_on_thread(std::function<Result<void>()> task) {
    std::packaged_task<Result<void>()> packaged(std::move(task));
    auto result = packaged.get_future();
    {
        std::lock_guard lock(tasks_mutex_);
        if (thread_ended_ || !thread_.joinable())
            return make_error("{}: the device is not running", config_.vdev);
        tasks_.push_back(std::move(packaged));
    }
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(task_wake_.get(), &one, sizeof(one));
    return result.get();
}

void VbdDevice::run_tasks() {
    std::uint64_t value;
    [[maybe_unused]] auto n = ::read(task_wake_.get(), &value, sizeof(value));
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

void VbdDevice::frontend_changed() {
    int value = frontend_state(store_, frontend_dir_);
    if (detaching_) {
        // Never (re)connect a device on its way out; release it once the frontend let go.
        if (connected_ && value != XenbusStateConnected && value != XenbusStateInitialised)
            disconnect();
        if (!connected_ && value != XenbusStateConnected && value != XenbusStateClosing) {
            (void)set_backend_state(XenbusStateClosed);
            released_.store(true, std::memory_order_release);
        }
        return;
    }
    follow_frontend(
        value, connected_, [this] { return connect(); }, [this] { disconnect(); },
        [this](int state) { return set_backend_state(state); }, config_.vdev);
}

Result<void> VbdDevice::begin_detach() {
    return run_on_thread([this]() -> Result<void> {
        detaching_ = true;
        DOMUS_TRY_VOID(store_.write(backend_dir_ + "/online", "0"));
        DOMUS_TRY_VOID(set_backend_state(XenbusStateClosing));
        frontend_changed();  // a frontend that is not connected is released at once
        return {};
    });
}

void VbdDevice::announce_closed() {
    (void)run_on_thread([this]() -> Result<void> {
        disconnect();
        return set_backend_state(XenbusStateClosed);
    });
}

Result<void> VbdDevice::flush_image() {
    return run_on_thread([this] { return image_->flush(); });
}

Result<void> VbdDevice::drain() {
    // Answer everything taken off the ring; the requests still on it are taken as slots
    // free up (the caller paused the vCPUs, so the ring holds a bounded number).
    while (connected_ && !blkback_->idle()) {
        pollfd fd{blkback_->completion_fd(), POLLIN, 0};
        if (fd.fd < 0) break;  // the synchronous engine is idle after every pass
        int ready = ::poll(&fd, 1, 10'000);
        if (ready < 0 && errno != EINTR) return errno_error("poll");
        if (ready == 0) return make_error("{}: I/O did not finish within 10 s", config_.vdev);
        if (!blkback_->complete()) fail_frontend();
    }
    return {};
}

Result<void> VbdDevice::prepare_swap(const std::string& target, config::DiskFormat format) {
    return run_on_thread([this, target, format]() -> Result<void> {
        if (frozen_) return make_error("{}: a swap is already prepared", config_.vdev);
        std::uint64_t t0 = host_monotonic_ns();
        DOMUS_TRY_VOID(drain());
        std::uint64_t t1 = host_monotonic_ns();
        // Opened only now: the old image, about to become the backing file, is quiet and
        // its metadata on disk final.
        DOMUS_TRY_VOID(image_->flush());
        std::uint64_t t2 = host_monotonic_ns();
        auto next = storage::open_image(target, storage_format(format), config_.read_only,
                                        config_.direct_io && format == config::DiskFormat::raw);
        DOMUS_LOG_DEBUG("vbd", "{}: swap prepared: drain {} us, flush {} us, open {} us",
                        config_.vdev, (t1 - t0) / 1000, (t2 - t1) / 1000,
                        (host_monotonic_ns() - t2) / 1000);
        if (!next) return make_error("{}: {}", target, next.error().message);
        if ((*next)->size_bytes() != image_->size_bytes())
            return make_error("{}: {} bytes, the disk has {}", target, (*next)->size_bytes(),
                              image_->size_bytes());
        staged_ = std::move(next).value();
        staged_target_ = target;
        staged_format_ = format;
        frozen_ = true;
        return {};
    });
}

Result<void> VbdDevice::commit_swap() {
    return run_on_thread([this]() -> Result<void> {
        if (!frozen_) return make_error("{}: no swap prepared", config_.vdev);
        if (connected_) retire_blkback();  // idle: drained in prepare_swap and frozen since
        image_ = std::move(staged_);
        config_.target = staged_target_;
        config_.format = staged_format_;
        frozen_ = false;
        (void)store_.write(
            backend_dir_ + "/params",
            std::string(config::disk_format_name(config_.format)) + ":" + config_.target);
        if (connected_) {
            blkback_ = std::make_unique<backends::BlkBack>(*this, *image_, ring_page_.page(),
                                                           limits(), true);
            if (!blkback_->process()) fail_frontend();  // what waited during the swap
        }
        return {};
    });
}

void VbdDevice::abort_swap() {
    (void)run_on_thread([this]() -> Result<void> {
        staged_.reset();
        if (frozen_) {
            frozen_ = false;
            if (connected_ && !blkback_->process()) fail_frontend();
        }
        return {};
    });
}

Result<void> VbdDevice::connect() {
    auto protocol = store_.read(frontend_dir_ + "/protocol");
    if (protocol && *protocol != "x86_64-abi")
        return make_error("protocol {} is not supported", *protocol);
    DOMUS_TRY(ref, read_frontend_u32(store_, frontend_dir_, "ring-ref"));
    DOMUS_TRY(port, read_frontend_u32(store_, frontend_dir_, "event-channel"));
    DOMUS_TRY(ring, domain_.grants().map(0, grant_ref_t(ref), true));
    DOMUS_TRY(channel, BackendChannel::bind(domain_, evtchn_port_t(port), doorbell_.get()));
    channel_.emplace(std::move(channel));
    ring_page_ = std::move(ring);
    blkback_ = std::make_unique<backends::BlkBack>(*this, *image_, ring_page_.page(), limits());
    connected_ = true;
    DOMUS_TRY_VOID(set_backend_state(XenbusStateConnected));
    DOMUS_LOG_DEBUG("vbd", "{} connected: ring-ref {}, port {}", config_.vdev, ref, port);
    if (!blkback_->process()) fail_frontend();  // requests queued before we connected
    return {};
}

backends::DiskLimits VbdDevice::limits() const {
    return {image_->size_bytes() / storage::kSectorSize, config_.read_only,
            config_.discard && !config_.read_only, kMaxIndirectSegments};
}

void VbdDevice::retire_blkback() {
    // Its counters live on in the device's totals.
    {
        std::lock_guard lock(stats_mutex_);
        retired_stats_ = backends::combine(retired_stats_, blkback_->stats());
        stats_ = retired_stats_;
    }
    blkback_.reset();
}

void VbdDevice::fail_frontend() {
    // The frontend broke the ring protocol: stop serving it and say so through XenBus
    // (Closing), so that its driver gives up instead of waiting for answers.
    DOMUS_LOG_WARN("vbd", "{}: frontend misbehaved; device closed", config_.vdev);
    disconnect();
    (void)set_backend_state(XenbusStateClosing);
}

void VbdDevice::disconnect() {
    if (!connected_) return;
    channel_.reset();
    retire_blkback();  // waits for the I/O in flight before the grants are released
    ring_page_.reset();
    connected_ = false;
}

}  // namespace domus::monitor
