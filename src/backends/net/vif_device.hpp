// VifDevice: one PV network interface of a domain (Xen's vif): its XenBus keys as libxl
// and Linux netback write them, its host side (a TAP named vif<domid>.<devid>, made when
// the device is, so the host can join it to a network before the guest connects), and
// its two rings served by NetBack on the device thread. The XenBus directories are
// libxl's: frontend /local/domain/<d>/device/vif/<id>, backend
// /local/domain/0/backend/vif/<d>/<id>. A TX rate limit (rate=) holds packets in
// netback; a timer on the device thread brings them back when their tokens are there.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "backends/backend_host.hpp"
#include "backends/net/netback.hpp"
#include "backends/net/tap.hpp"
#include "backends/xenbus_device.hpp"
#include "base/fd.hpp"
#include "base/result.hpp"
#include "config/vif_config.hpp"

namespace domus::backends {

class VifDevice final : public XenbusDevice {
public:
    // Creates the TAP and publishes the device (backend state InitWait); start() serves it.
    static Result<std::unique_ptr<VifDevice>> create(std::unique_ptr<BackendHost> host,
                                                     const config::VifConfig& config);
    ~VifDevice() override;

    NetStats stats() const;
    const config::VifConfig& config() const noexcept { return config_; }
    const std::string& ifname() const noexcept { return tap_.name(); }
    // A new TX limit (none: unlimited), in force at once, also across reconnections.
    Result<void> set_rate(std::optional<config::VifRate> rate);

private:
    VifDevice(std::unique_ptr<BackendHost> host, config::VifConfig config, Tap tap);

    // XenbusDevice
    Result<void> publish_keys(XenbusTransaction& t) override;
    Result<void> connect() override;
    void connected_hook() override;
    void disconnect() override;
    std::size_t device_fds(std::span<pollfd, kMaxDeviceFds> fds) override;
    void device_ready(std::span<const pollfd> fds) override;

    bool frontend_flag(const char* key, bool fallback);
    void serve(bool ok);
    void update_stats();
    void apply_rate();  // config_.rate to netback_ (device thread)
    void arm_timer();   // for the packet netback holds, if any

    config::VifConfig config_;
    Tap tap_;
    Fd doorbell_;
    Fd timer_;  // a held packet's wake-up (timerfd)
    // Device thread only.
    std::unique_ptr<MappedPages> rings_;  // page 0 TX, page 1 RX
    std::unique_ptr<NetBack> netback_;
    mutable std::mutex stats_mutex_;
    NetStats stats_;
    NetStats retired_stats_;  // of earlier connections (a frontend that reconnected)
};

}  // namespace domus::backends
