// NetDevices: vif hot-plug (see net_devices.hpp).
#include "monitor/net_devices.hpp"

#include "monitor/device_detach.hpp"

#include <algorithm>

#include "base/log.hpp"
#include "monitor/device_host.hpp"
#include "monitor/domain.hpp"

namespace domus::monitor {

Result<void> NetDevices::attach(const config::VifConfig& config) {
    std::lock_guard change(change_mutex_);
    {
        std::lock_guard lock(mutex_);
        for (const auto& device : devices_) {
            const auto& other = device->config();
            if (other.devid == config.devid)
                return make_error("the domain already has vif {}", config.devid);
            if (other.mac == config.mac)
                return make_error("vif {} already has MAC {}", other.devid,
                                  config::format_mac(config.mac));
            if (device->ifname() == config.ifname)
                return make_error("vif {} is already named {}", other.devid, config.ifname);
        }
    }
    DOMUS_TRY(host, DeviceHost::create(domain_, store_socket_));
    DOMUS_TRY(device, backends::VifDevice::create(std::move(host), config));
    device->start();
    std::lock_guard lock(mutex_);
    devices_.push_back(std::move(device));
    return {};
}

Result<bool> NetDevices::detach(std::uint32_t devid, bool force,
                                std::chrono::milliseconds timeout) {
    std::lock_guard change(change_mutex_);
    backends::VifDevice* device = nullptr;
    {
        std::lock_guard lock(mutex_);
        for (const auto& d : devices_)
            if (d->config().devid == devid) device = d.get();
    }
    if (!device) return make_error("the domain has no vif {}", devid);
    DOMUS_TRY(forced,
              release_device(*device, domain_, force, timeout, fmt::format("vif {}", devid)));
    take_device(devices_, mutex_, device).reset();  // stops its thread, closes the TAP
    DOMUS_LOG_INFO("vif", "vif {} detached{}", devid, forced ? " (forced)" : "");
    return forced;
}

Result<void> NetDevices::set_rate(std::uint32_t devid, std::optional<config::VifRate> rate) {
    std::lock_guard change(change_mutex_);  // the device stays while we use it
    backends::VifDevice* device = nullptr;
    {
        std::lock_guard lock(mutex_);
        for (const auto& d : devices_)
            if (d->config().devid == devid) device = d.get();
    }
    if (!device) return make_error("the domain has no vif {}", devid);
    return device->set_rate(rate);
}

std::vector<VifStats> NetDevices::stats() const {
    std::lock_guard lock(mutex_);
    std::vector<VifStats> stats;
    for (const auto& vif : devices_)
        stats.push_back({vif->ifname(), vif->config().devid, config::format_mac(vif->config().mac),
                         vif->stats()});
    return stats;
}

void NetDevices::clear() {
    std::vector<std::unique_ptr<backends::VifDevice>> devices;
    {
        std::lock_guard lock(mutex_);
        devices.swap(devices_);
    }
    devices.clear();
}

}  // namespace domus::monitor
