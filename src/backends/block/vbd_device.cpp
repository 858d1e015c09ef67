// VbdDevice: blkif's XenBus keys and connection (reference section 10), the ring thread.
#include "backends/block/vbd_device.hpp"

#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <chrono>

#include "base/log.hpp"

namespace domus::backends {
namespace {

// The one place a configured disk format becomes storage's (config knows no storage).
storage::Format storage_format(config::DiskFormat format) {
    return format == config::DiskFormat::qcow2 ? storage::Format::qcow2 : storage::Format::raw;
}

std::int64_t microseconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                 start)
        .count();
}

}  // namespace

Result<std::unique_ptr<VbdDevice>> VbdDevice::create(std::unique_ptr<BackendHost> host,
                                                     const config::VbdConfig& config) {
    auto image = storage::open_image(config.target, storage_format(config.format), config.read_only,
                                     config.direct_io);
    if (!image) return make_error("disk {}: {}", config.vdev, image.error().message);
    std::unique_ptr<VbdDevice> device(
        new VbdDevice(std::move(host), config, std::move(image).value()));
    if (!device->doorbell_) return errno_error("eventfd");
    if (!device->timer_) return errno_error("timerfd_create");
    DOMUS_TRY_VOID(device->publish());
    return device;
}

VbdDevice::VbdDevice(std::unique_ptr<BackendHost> host, config::VbdConfig config,
                     std::unique_ptr<storage::BlockImage> image)
    : XenbusDevice(std::move(host), "vbd", config.virtual_device, config.vdev),
      config_(std::move(config)),
      image_(std::move(image)),
      doorbell_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      timer_(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)) {}

VbdDevice::~VbdDevice() {
    stop();
}

std::string VbdDevice::params() const {
    return std::string(config::disk_format_name(config_.format)) + ":" + config_.target;
}

Result<void> VbdDevice::publish_keys(XenbusTransaction& t) {
    // libxl's keys for a disk, then what blkback adds (only what is served is advertised).
    const std::string& backend = backend_dir();
    DOMUS_TRY_VOID(t.write(backend + "/mode", config_.read_only ? "r" : "w"));
    DOMUS_TRY_VOID(t.write(backend + "/dev", config_.vdev));
    DOMUS_TRY_VOID(t.write(backend + "/type", "qdisk"));
    DOMUS_TRY_VOID(t.write(backend + "/device-type", "disk"));
    DOMUS_TRY_VOID(t.write(backend + "/params", params()));
    DOMUS_TRY_VOID(
        t.write(frontend_dir() + "/virtual-device", std::to_string(config_.virtual_device)));
    DOMUS_TRY_VOID(t.write(frontend_dir() + "/device-type", "disk"));
    DOMUS_TRY_VOID(
        t.write(backend + "/sectors", std::to_string(image_->size_bytes() / storage::kSectorSize)));
    DOMUS_TRY_VOID(t.write(backend + "/sector-size", "512"));
    DOMUS_TRY_VOID(t.write(backend + "/info", config_.read_only ? "4" : "0"));
    DOMUS_TRY_VOID(t.write(backend + "/feature-flush-cache", "1"));
    DOMUS_TRY_VOID(t.write(backend + "/feature-barrier", "1"));
    DOMUS_TRY_VOID(
        t.write(backend + "/feature-discard", config_.discard && !config_.read_only ? "1" : "0"));
    DOMUS_TRY_VOID(t.write(backend + "/discard-granularity", "512"));
    DOMUS_TRY_VOID(t.write(backend + "/feature-persistent", "1"));
    return t.write(backend + "/feature-max-indirect-segments",
                   std::to_string(kMaxIndirectSegments));
}

BlkStats VbdDevice::stats() const {
    std::lock_guard lock(stats_mutex_);
    return stats_;
}

std::size_t VbdDevice::device_fds(std::span<pollfd, kMaxDeviceFds> fds) {
    // While a swap is prepared, requests wait (the doorbell stays unread). The I/O
    // completions of an asynchronous engine too (poll skips a -1 fd).
    bool serving = connected() && !frozen_;
    fds[0] = {serving ? doorbell_.get() : -1, POLLIN, 0};
    fds[1] = {serving ? blkback_->completion_fd() : -1, POLLIN, 0};
    fds[2] = {serving ? timer_.get() : -1, POLLIN, 0};
    return 3;
}

void VbdDevice::device_ready(std::span<const pollfd> fds) {
    bool doorbell = fds[0].revents & POLLIN;
    bool completed = fds[1].revents & POLLIN;
    bool timer = fds[2].revents & POLLIN;
    if (timer) {
        std::uint64_t expirations;
        [[maybe_unused]] auto n = ::read(timer_.get(), &expirations, sizeof(expirations));
    }
    if (doorbell) {
        std::uint64_t value;
        [[maybe_unused]] auto n = ::read(doorbell_.get(), &value, sizeof(value));
    }
    if ((doorbell || timer) && connected()) serve(blkback_->process());
    // complete() resets the eventfd itself, then answers what finished.
    if (completed && connected()) serve(blkback_->complete());
    if (blkback_ && (doorbell || completed || timer)) arm_timer();
    if ((doorbell || completed || timer) && blkback_) {
        std::lock_guard lock(stats_mutex_);
        stats_ = combine(retired_stats_, blkback_->stats());
    }
}

void VbdDevice::serve(bool ok) {
    if (!ok) fail_frontend("broke the ring protocol");
}

Result<void> VbdDevice::flush_image() {
    return run_on_thread([this] { return image_->flush(); });
}

Result<void> VbdDevice::drain() {
    // Answer everything taken off the ring; the requests still on it are taken as slots
    // free up (the caller paused the vCPUs, so the ring holds a bounded number).
    while (connected() && !blkback_->idle()) {
        pollfd fd{blkback_->completion_fd(), POLLIN, 0};
        if (fd.fd < 0) break;  // the synchronous engine is idle after every pass
        int ready = ::poll(&fd, 1, 10'000);
        if (ready < 0 && errno != EINTR) return errno_error("poll");
        if (ready == 0) return make_error("{}: I/O did not finish within 10 s", config_.vdev);
        serve(blkback_->complete());
    }
    return {};
}

Result<void> VbdDevice::prepare_swap(const std::string& target, config::DiskFormat format) {
    return run_on_thread([this, target, format]() -> Result<void> {
        if (frozen_) return make_error("{}: a swap is already prepared", config_.vdev);
        auto t0 = std::chrono::steady_clock::now();
        DOMUS_TRY_VOID(drain());
        auto drained_us = microseconds_since(t0);
        // Opened only now: the old image, about to become the backing file, is quiet and
        // its metadata on disk final.
        DOMUS_TRY_VOID(image_->flush());
        auto flushed_us = microseconds_since(t0);
        auto next = storage::open_image(target, storage_format(format), config_.read_only,
                                        config_.direct_io && format == config::DiskFormat::raw);
        DOMUS_LOG_DEBUG("vbd", "{}: swap prepared: drain {} us, flush {} us, open {} us",
                        config_.vdev, drained_us, flushed_us - drained_us,
                        microseconds_since(t0) - flushed_us);
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

Result<void> VbdDevice::with_image(std::function<Result<void>(storage::BlockImage&)> task) {
    return run_on_thread([this, &task]() -> Result<void> {
        if (frozen_) return make_error("{}: a swap is prepared", config_.vdev);
        if (!connected()) return task(*image_);
        // The guest runs on: new requests wait on the ring until the task is done, or
        // draining might never end.
        blkback_->hold(true);
        auto drained = drain();  // the asynchronous engine's requests in flight
        auto done = drained ? task(*image_) : std::move(drained);
        if (connected()) {  // a frontend that broke the ring while draining is gone
            blkback_->hold(false);
            serve(blkback_->process());
        }
        return done;
    });
}

Result<void> VbdDevice::commit_swap() {
    return run_on_thread([this]() -> Result<void> {
        if (!frozen_) return make_error("{}: no swap prepared", config_.vdev);
        if (connected()) retire_blkback();  // idle: drained in prepare_swap and frozen since
        image_ = std::move(staged_);
        config_.target = staged_target_;
        config_.format = staged_format_;
        frozen_ = false;
        (void)store().write(backend_dir() + "/params", params());
        if (connected()) {
            make_blkback(true);
            serve(blkback_->process());  // what waited during the swap
        }
        return {};
    });
}

void VbdDevice::abort_swap() {
    (void)run_on_thread([this]() -> Result<void> {
        staged_.reset();
        if (frozen_) {
            frozen_ = false;
            if (connected()) serve(blkback_->process());
        }
        return {};
    });
}

Result<void> VbdDevice::connect() {
    auto protocol = store().read(frontend_dir() + "/protocol");
    if (protocol && *protocol != "x86_64-abi")
        return make_error("protocol {} is not supported", *protocol);
    DOMUS_TRY_VOID(take_ring("ring-ref", "event-channel", doorbell_.get(), ring_page_));
    // Persistent grants when the frontend asks for them, as Linux blkback (a missing or
    // malformed key means no).
    auto persistent = store().read(frontend_dir() + "/feature-persistent");
    persistent_grants_ = persistent && *persistent == "1";
    make_blkback(false);
    return {};
}

void VbdDevice::connected_hook() {
    serve(blkback_->process());  // requests queued before we connected
    arm_timer();
}

void VbdDevice::make_blkback(bool resume) {
    blkback_ = std::make_unique<BlkBack>(host(), *image_, ring_page_->page(0), limits(), resume);
    if (persistent_grants_) blkback_->use_persistent_grants();
    auto now = RateClock::now();
    blkback_->set_limit(RateLimiter(per_second_bucket(config_.rate_bytes, now),
                                    per_second_bucket(config_.rate_iops, now)));
}

Result<void> VbdDevice::set_rate(std::uint64_t bytes_per_second,
                                 std::uint64_t requests_per_second) {
    return run_on_thread([=, this]() -> Result<void> {
        config_.rate_bytes = bytes_per_second;
        config_.rate_iops = requests_per_second;
        if (blkback_) {
            auto now = RateClock::now();
            blkback_->set_limit(RateLimiter(per_second_bucket(bytes_per_second, now),
                                            per_second_bucket(requests_per_second, now)));
            // A request held under the old limit goes now if the new one lets it.
            if (connected() && !frozen_) serve(blkback_->process());
        }
        arm_timer();
        return {};
    });
}

void VbdDevice::arm_timer() {
    arm_retry_timer(timer_.get(), blkback_ ? blkback_->held_for(RateClock::now()) : std::nullopt);
}

DiskLimits VbdDevice::limits() const {
    return {image_->size_bytes() / storage::kSectorSize, config_.read_only,
            config_.discard && !config_.read_only, kMaxIndirectSegments};
}

void VbdDevice::retire_blkback() {
    // Its counters live on in the device's totals.
    {
        std::lock_guard lock(stats_mutex_);
        retired_stats_ = combine(retired_stats_, blkback_->stats());
        stats_ = retired_stats_;
    }
    blkback_.reset();
}

void VbdDevice::disconnect() {
    host().unbind_frontend();
    retire_blkback();  // waits for the I/O in flight before the grants are released
    ring_page_->release();
}

}  // namespace domus::backends
