// VbdDevice: one PV block device of a domain (Xen's vbd): its XenBus keys, and its ring
// served by BlkBack on the device thread. Guest pages are reached only through grants.
// The XenBus directories are libxl's (frontend /local/domain/<d>/device/vbd/<id>,
// backend /local/domain/0/backend/vbd/<d>/<id>), written and followed by XenbusDevice.
//
// Changes to a live device (swapping the image for a snapshot) run as tasks on the
// device thread, so the ring, BlkBack and the image keep a single owner.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "backends/backend_host.hpp"
#include "backends/block/blkback.hpp"
#include "backends/xenbus_device.hpp"
#include "base/fd.hpp"
#include "base/result.hpp"
#include "config/vbd_config.hpp"
#include "storage/block_image.hpp"

namespace domus::backends {

class VbdDevice final : public XenbusDevice {
public:
    // Opens the image and publishes the device (backend state InitWait); start() serves it.
    static Result<std::unique_ptr<VbdDevice>> create(std::unique_ptr<BackendHost> host,
                                                     const config::VbdConfig& config);
    ~VbdDevice() override;

    BlkStats stats() const;
    const std::string& vdev() const noexcept { return config_.vdev; }
    std::uint32_t virtual_device() const noexcept { return config_.virtual_device; }
    // The image served now. An image swap changes it on the device thread: callers hold
    // off swaps while they read it (BlockDevices' change lock).
    const std::string& target() const noexcept { return config_.target; }

    // Image swap in two steps, for a consistent cut over several devices: prepare()
    // finishes the I/O in flight, flushes, opens `target` and then holds every further
    // request until commit() (switch to the new image) or abort() (keep the old one).
    Result<void> flush_image();
    Result<void> prepare_swap(const std::string& target, config::DiskFormat format);
    Result<void> commit_swap();
    void abort_swap();
    // Runs `task` with the image served now, on the device thread between two requests
    // (none in flight): work that must not race the guest's I/O, a chunk at a time (a
    // snapshot delete streaming into the active overlay). Refused while a swap is prepared.
    Result<void> with_image(std::function<Result<void>(storage::BlockImage&)> task);
    // A new rate limit (bytes and requests a second, 0: unlimited), in force at once and
    // across reconnections and image swaps.
    Result<void> set_rate(std::uint64_t bytes_per_second, std::uint64_t requests_per_second);

private:
    VbdDevice(std::unique_ptr<BackendHost> host, config::VbdConfig config,
              std::unique_ptr<storage::BlockImage> image);

    // XenbusDevice
    Result<void> publish_keys(XenbusTransaction& t) override;
    Result<void> connect() override;
    void connected_hook() override;
    void disconnect() override;
    std::size_t device_fds(std::span<pollfd, kMaxDeviceFds> fds) override;
    void device_ready(std::span<const pollfd> fds) override;

    Result<void> drain();
    DiskLimits limits() const;
    // A BlkBack on the connected ring (`resume`: it takes over from a drained one).
    void make_blkback(bool resume);
    void retire_blkback();
    void serve(bool ok);
    std::string params() const;
    void arm_timer();  // for the request the rate limit holds, if any

    config::VbdConfig config_;
    std::unique_ptr<storage::BlockImage> image_;
    Fd doorbell_;
    Fd timer_;  // a request held by the rate limit: its wake-up (timerfd)
    // Device thread only.
    bool frozen_ = false;             // a swap is prepared: take no requests
    bool persistent_grants_ = false;  // the frontend asked for feature-persistent
    std::unique_ptr<storage::BlockImage> staged_;
    std::string staged_target_;
    config::DiskFormat staged_format_ = config::DiskFormat::raw;
    std::unique_ptr<MappedPages> ring_page_;
    std::unique_ptr<BlkBack> blkback_;
    mutable std::mutex stats_mutex_;
    BlkStats stats_;
    BlkStats retired_stats_;  // of the BlkBacks replaced by image swaps
};

}  // namespace domus::backends
