// VbdDevice: one PV block device of a domain, the monitor's side of the split driver.
// It writes the device's XenBus directories as Xen's toolstack and backend do
// (frontend: /local/domain/<d>/device/vbd/<id>, backend: /local/domain/0/backend/vbd/
// <d>/<id>), follows the frontend through the XenBus states, then serves its ring with
// BlkBack on a thread of its own. Guest pages are reached only through grants.
//
// Changes to a live device (hot-unplug, swapping the image for a snapshot) run as tasks
// on that thread, so the ring, BlkBack and the image keep a single owner.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "backends/backend_host.hpp"
#include "backends/blkback.hpp"
#include "base/fd.hpp"
#include "base/result.hpp"
#include "config/vbd_config.hpp"
#include "monitor/backend_channel.hpp"
#include "monitor/grant_table.hpp"
#include "storage/block_image.hpp"
#include "store/client.hpp"

namespace domus::monitor {

class Domain;

class VbdDevice final : public backends::BackendHost {
public:
    // Opens the image and publishes the device (backend state InitWait).
    static Result<std::unique_ptr<VbdDevice>> create(Domain& domain,
                                                     const config::VbdConfig& config,
                                                     const std::string& store_socket);
    ~VbdDevice() override;

    void start();
    backends::BlkStats stats() const;
    const std::string& vdev() const noexcept { return config_.vdev; }
    std::uint32_t virtual_device() const noexcept { return config_.virtual_device; }

    // Hot-unplug, as Xen's toolstack asks for it: the backend goes offline and Closing,
    // and the device is released once the frontend has closed (or never connected).
    Result<void> begin_detach();
    bool released() const noexcept { return released_.load(std::memory_order_acquire); }
    // Tells the frontend the device is gone (state Closed) before a forced removal.
    void announce_closed();

    // Image swap in two steps, for a consistent cut over several devices: prepare()
    // finishes the I/O in flight, flushes, opens `target` and then holds every further
    // request until commit() (switch to the new image) or abort() (keep the old one).
    Result<void> flush_image();
    Result<void> prepare_swap(const std::string& target, config::DiskFormat format);
    Result<void> commit_swap();
    void abort_swap();

    // BackendHost
    Result<void> map_grants(std::span<const grant_ref_t> refs, bool writable,
                            std::unique_ptr<backends::MappedPages>& pages) override;
    void notify_frontend() override;

private:
    VbdDevice(Domain& domain, config::VbdConfig config, std::unique_ptr<storage::BlockImage> image,
              store::Client store);
    Result<void> publish();
    void thread_main();
    // Runs `task` on the device thread between two events; fails when the thread ended.
    Result<void> run_on_thread(std::function<Result<void>()> task);
    void run_tasks();
    Result<void> drain();
    void serve_doorbell();
    backends::DiskLimits limits() const;
    void retire_blkback();
    void frontend_changed();
    Result<void> connect();
    void disconnect();
    void fail_frontend();
    Result<void> set_backend_state(int state);

    Domain& domain_;
    config::VbdConfig config_;
    std::unique_ptr<storage::BlockImage> image_;
    store::Client store_;
    std::string frontend_dir_;
    std::string backend_dir_;
    Fd doorbell_;
    Fd stop_;
    Fd task_wake_;
    std::thread thread_;
    std::mutex tasks_mutex_;  // guards tasks_, thread_ended_
    std::deque<std::packaged_task<Result<void>()>> tasks_;
    bool thread_ended_ = false;
    // Device thread only.
    bool detaching_ = false;
    bool frozen_ = false;  // a swap is prepared: take no requests
    std::unique_ptr<storage::BlockImage> staged_;
    std::string staged_target_;
    config::DiskFormat staged_format_ = config::DiskFormat::raw;
    std::atomic<bool> released_{false};
    // Connected state (backend thread only).
    GrantMapping ring_page_;
    std::unique_ptr<backends::BlkBack> blkback_;
    std::optional<BackendChannel> channel_;
    bool connected_ = false;
    mutable std::mutex stats_mutex_;
    backends::BlkStats stats_;
    backends::BlkStats retired_stats_;  // of the BlkBacks replaced by image swaps
};

}  // namespace domus::monitor
