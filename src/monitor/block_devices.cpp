// BlockDevices: hot-plug and the image swaps behind snapshots.
#include "monitor/block_devices.hpp"

#include "monitor/device_detach.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "base/log.hpp"
#include "monitor/device_host.hpp"
#include "monitor/domain.hpp"
#include "monitor/guest_clock.hpp"
#include "storage/image_merge.hpp"
#include "storage/qcow2_backing.hpp"

namespace domus::monitor {

backends::VbdDevice* BlockDevices::find_locked(const std::string& vdev) const {
    for (const auto& device : devices_)
        if (device->vdev() == vdev) return device.get();
    return nullptr;
}

Result<void> BlockDevices::attach(const config::VbdConfig& config) {
    std::lock_guard change(change_mutex_);
    {
        std::lock_guard lock(mutex_);
        for (const auto& device : devices_)
            if (device->vdev() == config.vdev || device->virtual_device() == config.virtual_device)
                return make_error("the domain already has a disk {} (device {})", device->vdev(),
                                  device->virtual_device());
    }
    DOMUS_TRY(host, DeviceHost::create(domain_, store_socket_));
    DOMUS_TRY(device, backends::VbdDevice::create(std::move(host), config));
    device->start();
    std::lock_guard lock(mutex_);
    devices_.push_back(std::move(device));
    return {};
}

Result<bool> BlockDevices::detach(const std::string& vdev, bool force,
                                  std::chrono::milliseconds timeout) {
    std::lock_guard change(change_mutex_);
    backends::VbdDevice* device;
    {
        std::lock_guard lock(mutex_);
        device = find_locked(vdev);
    }
    if (!device) return make_error("the domain has no disk {}", vdev);
    DOMUS_TRY(forced, release_device(*device, domain_, force, timeout, vdev));
    take_device(devices_, mutex_, device).reset();  // stops its thread, removes its directories
    DOMUS_LOG_INFO("vbd", "{} detached{}", vdev, forced ? " (forced)" : "");
    return forced;
}

Result<void> BlockDevices::set_rate(const std::string& vdev, std::uint64_t bytes_per_second,
                                    std::uint64_t requests_per_second) {
    std::lock_guard change(change_mutex_);  // the device stays while we use it
    backends::VbdDevice* device;
    {
        std::lock_guard lock(mutex_);
        device = find_locked(vdev);
    }
    if (!device) return make_error("the domain has no disk {}", vdev);
    return device->set_rate(bytes_per_second, requests_per_second);
}

Result<double> BlockDevices::replace_images(const std::vector<Replacement>& replacements) {
    std::lock_guard change(change_mutex_);
    std::vector<backends::VbdDevice*> devices;
    {
        std::lock_guard lock(mutex_);
        for (const auto& r : replacements) {
            backends::VbdDevice* device = find_locked(r.vdev);
            if (!device) return make_error("the domain has no disk {}", r.vdev);
            devices.push_back(device);
        }
    }
    // Most dirty data goes to disk before the pause, so the flush inside it is short.
    for (auto* device : devices)
        DOMUS_TRY_VOID(device->flush_image());
    bool was_paused = domain_.paused();  // by its owner: stays paused
    domain_.pause();
    std::uint64_t paused_at = host_monotonic_ns();
    std::size_t prepared = 0;
    Result<void> outcome;
    for (; prepared < devices.size(); ++prepared) {
        const auto& r = replacements[prepared];
        outcome = devices[prepared]->prepare_swap(r.target, r.format);
        if (!outcome) break;
    }
    if (outcome) {
        // Cannot fail past a successful prepare except by a stopped device thread.
        for (auto* device : devices)
            if (auto committed = device->commit_swap(); !committed) outcome = committed;
    } else {
        for (std::size_t i = 0; i < prepared; ++i)
            devices[i]->abort_swap();
    }
    double paused_ms = double(host_monotonic_ns() - paused_at) / 1e6;
    if (!was_paused) domain_.unpause();
    if (!outcome) return std::move(outcome).error();
    return paused_ms;
}

Result<BlockDevices::Rebase> BlockDevices::rebase_image(const std::string& vdev,
                                                        const std::string& removed,
                                                        const std::string& backing,
                                                        storage::Format format) {
    // One chunk per visit to the device thread: the guest's requests wait at most that long.
    constexpr std::uint64_t kChunkClusters = 16;
    std::lock_guard change(change_mutex_);
    backends::VbdDevice* device;
    {
        std::lock_guard lock(mutex_);
        device = find_locked(vdev);
    }
    if (!device) return make_error("the domain has no disk {}", vdev);
    auto overlay = [&](storage::BlockImage& image) -> Result<storage::Qcow2Image*> {
        auto* top = dynamic_cast<storage::Qcow2Image*>(&image);
        if (!top) return make_error("{}: its image is not qcow2", vdev);
        return top;
    };
    auto same = [](const std::string& a, const std::string& b) {
        return std::filesystem::path(a).lexically_normal() ==
               std::filesystem::path(b).lexically_normal();
    };
    Rebase rebase;
    std::uint64_t clusters = 0;
    DOMUS_TRY_VOID(device->with_image([&](storage::BlockImage& image) -> Result<void> {
        DOMUS_TRY(top, overlay(image));
        const auto& name = top->header().backing_file;
        rebase.streamed =
            !name.empty() && same(storage::resolve_backing_path(top->path(), name), removed);
        clusters = storage::cluster_count(*top);
        return {};
    }));
    if (!rebase.streamed) {
        // Nothing to copy: open the chain afresh from the overlay's header.
        DOMUS_TRY_VOID(device->with_image([&](storage::BlockImage& image) -> Result<void> {
            DOMUS_TRY(top, overlay(image));
            if (top->header().backing_file.empty()) return {};
            DOMUS_TRY(below, storage::backing_format_from_name(top->header().backing_format));
            return top->set_backing(top->header().backing_file, below);
        }));
        return rebase;
    }
    for (std::uint64_t first = 0; first < clusters; first += kChunkClusters) {
        std::uint64_t started = host_monotonic_ns();
        DOMUS_TRY_VOID(device->with_image([&](storage::BlockImage& image) -> Result<void> {
            DOMUS_TRY(top, overlay(image));
            auto* from = dynamic_cast<storage::Qcow2Image*>(top->backing());
            if (!from || !same(from->path(), removed))
                return make_error("{}: the overlay's backing file changed during the merge", vdev);
            DOMUS_TRY(copied, storage::copy_missing_clusters(*from, *top, first, kChunkClusters));
            rebase.bytes += copied;
            return {};
        }));
        rebase.longest_hold_ms =
            std::max(rebase.longest_hold_ms, double(host_monotonic_ns() - started) / 1e6);
    }
    // Flushed (set_backing flushes first) before the header names `backing`.
    DOMUS_TRY_VOID(device->with_image([&](storage::BlockImage& image) -> Result<void> {
        DOMUS_TRY(top, overlay(image));
        return top->set_backing(backing, format);
    }));
    DOMUS_LOG_INFO("vbd", "{}: {} merged into the overlay ({} bytes), now over {}", vdev, removed,
                   rebase.bytes, backing);
    return rebase;
}

std::vector<std::pair<std::string, std::string>> BlockDevices::images() {
    std::lock_guard change(change_mutex_);  // no swap runs while the targets are read
    std::lock_guard lock(mutex_);
    std::vector<std::pair<std::string, std::string>> images;
    for (const auto& device : devices_)
        images.emplace_back(device->vdev(), device->target());
    return images;
}

Result<void> BlockDevices::flush_images() {
    std::lock_guard change(change_mutex_);
    std::lock_guard lock(mutex_);
    for (const auto& device : devices_)
        DOMUS_TRY_VOID(device->flush_image());
    return {};
}

std::vector<BlockDevices::DiskStats> BlockDevices::stats() const {
    std::lock_guard lock(mutex_);
    std::vector<DiskStats> stats;
    for (const auto& device : devices_)
        stats.push_back({device->vdev(), device->stats()});
    return stats;
}

void BlockDevices::clear() {
    std::vector<std::unique_ptr<backends::VbdDevice>> devices;
    {
        std::lock_guard lock(mutex_);
        devices.swap(devices_);
    }
    devices.clear();
}

}  // namespace domus::monitor
