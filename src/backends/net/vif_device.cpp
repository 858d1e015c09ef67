// VifDevice: netif's XenBus keys and connection, the TAP, the rings' thread.
#include "backends/net/vif_device.hpp"

#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "base/log.hpp"

namespace domus::backends {
namespace {

NetStats combine(const NetStats& a, const NetStats& b) {
    NetStats sum = a;
    sum.tx_packets += b.tx_packets;
    sum.tx_bytes += b.tx_bytes;
    sum.tx_errors += b.tx_errors;
    sum.tx_dropped += b.tx_dropped;
    sum.rx_packets += b.rx_packets;
    sum.rx_bytes += b.rx_bytes;
    sum.rx_errors += b.rx_errors;
    sum.notifications += b.notifications;
    sum.tx_held += b.tx_held;
    return sum;
}

}  // namespace

Result<std::unique_ptr<VifDevice>> VifDevice::create(std::unique_ptr<BackendHost> host,
                                                     const config::VifConfig& config) {
    auto tap = Tap::create(config.ifname, config.mtu);
    if (!tap) return make_error("vif {}: {}", config.devid, tap.error().message);
    std::unique_ptr<VifDevice> device(new VifDevice(std::move(host), config, std::move(*tap)));
    if (!device->doorbell_) return errno_error("eventfd");
    if (!device->timer_) return errno_error("timerfd_create");
    DOMUS_TRY_VOID(device->publish());
    return device;
}

VifDevice::VifDevice(std::unique_ptr<BackendHost> host, config::VifConfig config, Tap tap)
    : XenbusDevice(std::move(host), "vif", config.devid, config.ifname),
      config_(std::move(config)),
      tap_(std::move(tap)),
      doorbell_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      timer_(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)) {}

VifDevice::~VifDevice() {
    stop();
}

Result<void> VifDevice::publish_keys(XenbusTransaction& t) {
    // libxl's keys for a vif, then what Linux netback adds (only what is served).
    const std::string& backend = backend_dir();
    std::string mac = config::format_mac(config_.mac);
    std::string handle = std::to_string(config_.devid);
    DOMUS_TRY_VOID(t.write(backend + "/handle", handle));
    DOMUS_TRY_VOID(t.write(backend + "/mac", mac));
    if (config_.script == config::VifScript::bridge)
        DOMUS_TRY_VOID(t.write(backend + "/bridge", config_.bridge));
    DOMUS_TRY_VOID(t.write(backend + "/script",
                           config_.script_path.empty()
                               ? "/etc/xen/scripts/" + std::string(vif_script_name(config_.script))
                               : config_.script_path));
    DOMUS_TRY_VOID(t.write(backend + "/type", "vif"));
    DOMUS_TRY_VOID(t.write(backend + "/vifname", tap_.name()));
    if (!config_.ips.empty()) {
        std::string ips;
        for (const auto& ip : config_.ips)
            ips += (ips.empty() ? "" : " ") + ip;
        DOMUS_TRY_VOID(t.write(backend + "/ip", ips));
    }
    DOMUS_TRY_VOID(t.write(backend + "/mtu", std::to_string(config_.mtu)));
    DOMUS_TRY_VOID(t.write(backend + "/feature-sg", "1"));
    DOMUS_TRY_VOID(t.write(backend + "/feature-gso-tcpv4", "1"));
    DOMUS_TRY_VOID(t.write(backend + "/feature-gso-tcpv6", "1"));
    DOMUS_TRY_VOID(t.write(backend + "/feature-ipv6-csum-offload", "1"));
    DOMUS_TRY_VOID(t.write(backend + "/feature-rx-copy", "1"));
    DOMUS_TRY_VOID(t.write(backend + "/feature-rx-flip", "0"));
    DOMUS_TRY_VOID(t.write(frontend_dir() + "/handle", handle));
    return t.write(frontend_dir() + "/mac", mac);
}

bool VifDevice::frontend_flag(const char* key, bool fallback) {
    auto value = store().read(frontend_dir() + "/" + key);
    if (!value) return fallback;  // absent: the protocol's default
    return *value == "1";
}

Result<void> VifDevice::connect() {
    // rx-copy is the only receive mode of modern Xen; flipping pages is not offered.
    auto copy = store().read(frontend_dir() + "/request-rx-copy");
    if (!copy || *copy != "1")
        return make_error("the frontend did not ask for request-rx-copy (the only mode served)");
    if (store().read(frontend_dir() + "/event-channel-tx"))
        return make_error("split event channels are not offered");
    NetFeatures features{
        .gso_tcpv4 = frontend_flag("feature-gso-tcpv4", false),
        .gso_tcpv6 = frontend_flag("feature-gso-tcpv6", false),
        .csum_blank = !frontend_flag("feature-no-csum-offload", false),
    };
    // The host leaves checksums (and segmentation) to the guest only as far as it can take it.
    DOMUS_TRY_VOID(tap_.set_offloads(features.csum_blank, features.gso_tcpv4, features.gso_tcpv6));
    const char* keys[2] = {"tx-ring-ref", "rx-ring-ref"};
    DOMUS_TRY_VOID(take_rings(keys, "event-channel", doorbell_.get(), rings_));
    netback_ = std::make_unique<NetBack>(host(), tap_, rings_->page(0), rings_->page(1), features);
    apply_rate();
    return {};
}

void VifDevice::apply_rate() {
    if (!netback_) return;
    TokenBucket limit;
    if (config_.rate)
        limit = TokenBucket(config_.rate->bytes_per_interval,
                            std::chrono::microseconds(config_.rate->interval_us), RateClock::now());
    netback_->set_tx_limit(limit);
}

Result<void> VifDevice::set_rate(std::optional<config::VifRate> rate) {
    return run_on_thread([this, rate]() -> Result<void> {
        config_.rate = rate;
        apply_rate();
        // A packet held under the old limit goes now if the new one lets it.
        if (connected() && netback_) {
            serve(netback_->transmit());
            arm_timer();
        }
        return {};
    });
}

void VifDevice::arm_timer() {
    arm_retry_timer(timer_.get(),
                    netback_ ? netback_->tx_held_for(RateClock::now()) : std::nullopt);
}

void VifDevice::connected_hook() {
    serve(netback_->transmit() && netback_->receive());  // what the guest queued before
    arm_timer();
}

void VifDevice::disconnect() {
    host().unbind_frontend();
    {
        std::lock_guard lock(stats_mutex_);
        retired_stats_ = combine(retired_stats_, netback_->stats());
        stats_ = retired_stats_;
    }
    netback_.reset();
    arm_timer();  // disarmed: nothing is held any more
    rings_->release();
    (void)tap_.set_offloads(false, false, false);
}

std::size_t VifDevice::device_fds(std::span<pollfd, kMaxDeviceFds> fds) {
    bool serving = connected() && netback_;
    fds[0] = {serving ? doorbell_.get() : -1, POLLIN, 0};
    // The TAP only while the guest has pages posted for its frames.
    fds[1] = {serving && netback_->wants_frames() ? tap_.fd() : -1, POLLIN, 0};
    fds[2] = {serving ? timer_.get() : -1, POLLIN, 0};
    return 3;
}

void VifDevice::device_ready(std::span<const pollfd> fds) {
    bool doorbell = fds[0].revents & POLLIN;
    bool frames = fds[1].revents & POLLIN;
    bool timer = fds[2].revents & POLLIN;
    if (timer) {
        std::uint64_t expirations;
        [[maybe_unused]] auto n = ::read(timer_.get(), &expirations, sizeof(expirations));
    }
    if (doorbell) {
        std::uint64_t value;
        [[maybe_unused]] auto n = ::read(doorbell_.get(), &value, sizeof(value));
    }
    if ((doorbell || timer) && connected()) {
        serve(netback_->transmit());
        arm_timer();
    }
    // A doorbell may also mean pages were posted for a frame that waits.
    if ((frames || doorbell) && connected()) serve(netback_->receive());
    if ((doorbell || frames || timer) && netback_) update_stats();
}

void VifDevice::serve(bool ok) {
    if (!ok) fail_frontend("broke the ring protocol");
}

void VifDevice::update_stats() {
    std::lock_guard lock(stats_mutex_);
    stats_ = combine(retired_stats_, netback_->stats());
}

NetStats VifDevice::stats() const {
    std::lock_guard lock(stats_mutex_);
    return stats_;
}

}  // namespace domus::backends
