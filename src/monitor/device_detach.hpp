// Taking a device away from a running guest, the same for disks and vifs: ask the guest
// to let it go (XenBus Closing), wait for its frontend to close, and force it only when
// told to. Then the caller removes the device from its set.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/xenbus_device.hpp"
#include "base/result.hpp"

namespace domus::monitor {

class Domain;

// True when the device was forced (the guest did not let go in time; --force given); an
// error when it was not released and not forced (it stays attached). `what` names the
// device in messages ("xvdb", "vif 1").
Result<bool> release_device(backends::XenbusDevice& device, const Domain& domain, bool force,
                            std::chrono::milliseconds timeout, const std::string& what);

// Takes `device` out of `devices` under `mutex` and returns it, so that it is destroyed
// (its thread stopped, its XenBus directories removed) without the lock held.
template <class Device>
std::unique_ptr<Device> take_device(std::vector<std::unique_ptr<Device>>& devices,
                                    std::mutex& mutex, const Device* device) {
    std::lock_guard lock(mutex);
    auto it = std::find_if(devices.begin(), devices.end(),
                           [&](const auto& d) { return d.get() == device; });
    if (it == devices.end()) return nullptr;
    auto taken = std::move(*it);
    devices.erase(it);
    return taken;
}

}  // namespace domus::monitor
