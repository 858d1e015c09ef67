// NetDevices: a domain's vifs, from boot to hot-plug (xl network-attach / network-detach):
// each a VifDevice with its TAP, made and removed while the domain runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "backends/net/vif_device.hpp"
#include "base/result.hpp"
#include "config/vif_config.hpp"

namespace domus::monitor {

class Domain;

struct VifStats {
    std::string ifname;
    std::uint32_t devid = 0;
    std::string mac;
    backends::NetStats net;
};

class NetDevices {
public:
    NetDevices(Domain& domain, std::string store_socket)
        : domain_(domain), store_socket_(std::move(store_socket)) {}
    ~NetDevices() { clear(); }

    // Makes the vif's TAP and publishes the device; its frontend connects when the guest
    // sees it. The devid, MAC and interface name must be free.
    Result<void> attach(const config::VifConfig& config);
    // Asks the frontend to let go and waits (up to `timeout`), then removes the device
    // and its TAP. A guest that does not answer keeps it unless `force`. Returns whether
    // the removal was forced.
    Result<bool> detach(std::uint32_t devid, bool force, std::chrono::milliseconds timeout);

    // A new TX limit for vif `devid` (none: unlimited), in force at once.
    Result<void> set_rate(std::uint32_t devid, std::optional<config::VifRate> rate);

    // Counters of each vif, in attach order.
    std::vector<VifStats> stats() const;
    // Stops every device (before the event channels and grant table they use go away).
    void clear();

private:
    Domain& domain_;
    std::string store_socket_;
    std::mutex change_mutex_;   // one attach or detach at a time
    mutable std::mutex mutex_;  // guards devices_
    std::vector<std::unique_ptr<backends::VifDevice>> devices_;
};

}  // namespace domus::monitor
