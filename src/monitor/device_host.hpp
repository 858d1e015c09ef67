// DeviceHost: the monitor's BackendHost for one device of its domain: grants through the
// domain's grant table, the device's event channel bound to a doorbell (BackendChannel),
// and a store connection of the device's own.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "backends/backend_host.hpp"
#include "monitor/backend_channel.hpp"
#include "monitor/xenbus_store_client.hpp"

namespace domus::monitor {

class Domain;

class DeviceHost final : public backends::BackendHost {
public:
    static Result<std::unique_ptr<DeviceHost>> create(Domain& domain,
                                                      const std::string& store_socket);

    domid_t frontend_id() const noexcept override;
    Result<void> map_grants(std::span<const grant_ref_t> refs, bool writable,
                            std::unique_ptr<backends::MappedPages>& pages) override;
    Result<void> bind_frontend(evtchn_port_t port, int doorbell_fd) override;
    void unbind_frontend() noexcept override { channel_.reset(); }
    void notify_frontend() override {
        if (channel_) channel_->notify();
    }
    backends::XenbusStore& store() override { return *store_; }

private:
    DeviceHost(Domain& domain, std::unique_ptr<XenbusStoreClient> store)
        : domain_(domain), store_(std::move(store)) {}

    Domain& domain_;
    std::unique_ptr<XenbusStoreClient> store_;
    std::optional<BackendChannel> channel_;
};

}  // namespace domus::monitor
