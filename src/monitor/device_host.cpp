// DeviceHost: a device's grants, event channel and store, served by its domain.
#include "monitor/device_host.hpp"

#include "monitor/domain.hpp"
#include "monitor/granted_pages.hpp"

namespace domus::monitor {

Result<std::unique_ptr<DeviceHost>> DeviceHost::create(Domain& domain,
                                                       const std::string& store_socket) {
    DOMUS_TRY(store, XenbusStoreClient::connect(store_socket));
    return std::unique_ptr<DeviceHost>(new DeviceHost(domain, std::move(store)));
}

domid_t DeviceHost::frontend_id() const noexcept {
    return domain_.config().domid;
}

Result<void> DeviceHost::map_grants(std::span<const grant_ref_t> refs, bool writable,
                                    std::unique_ptr<backends::MappedPages>& pages) {
    return GrantedPages::map(domain_.grants(), 0, refs, writable, pages);
}

Result<void> DeviceHost::bind_frontend(evtchn_port_t port, int doorbell_fd) {
    channel_.reset();
    DOMUS_TRY(channel, BackendChannel::bind(domain_, port, doorbell_fd));
    channel_.emplace(std::move(channel));
    return {};
}

}  // namespace domus::monitor
