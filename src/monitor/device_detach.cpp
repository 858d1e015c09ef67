// release_device (see device_detach.hpp).
#include "monitor/device_detach.hpp"

#include <thread>

#include "monitor/domain.hpp"

namespace domus::monitor {

Result<bool> release_device(backends::XenbusDevice& device, const Domain& domain, bool force,
                            std::chrono::milliseconds timeout, const std::string& what) {
    auto asked = device.begin_detach();
    auto deadline = std::chrono::steady_clock::now() + timeout;
    // The frontend's state changes arrive on the device's thread; nothing to wake us.
    while (asked && !device.released() && !domain.stopping() &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    // A guest that ended meanwhile (it may power off right after letting go, before the
    // backend saw its last state) holds nothing any more: that is a release too.
    bool forced = !device.released() && !domain.stopping();
    if (forced && !force) {
        if (!asked) return make_error("{}: {}", what, asked.error().message);
        return make_error(
            "the guest did not release {} within {} ms; it stays attached (--force removes it)",
            what, timeout.count());
    }
    if (forced) device.announce_closed();
    return forced;
}

}  // namespace domus::monitor
