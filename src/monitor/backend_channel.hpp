// BackendChannel: a frontend's unbound event channel taken by a backend in the monitor.
// The guest's notifications on that port go straight to the backend's doorbell eventfd
// (a KVM ioeventfd on the doorbell port: no exit to the monitor); notify() raises the
// port towards the guest. RAII: the destructor unbinds both.
#pragma once

#include <optional>

#include "base/result.hpp"

#include <domus/abi/event_channel.h>

namespace domus::monitor {

class Domain;

class BackendChannel {
public:
    // `port` must be an unbound port the guest offered to domain 0.
    static Result<BackendChannel> bind(Domain& domain, evtchn_port_t port, int doorbell_fd);
    BackendChannel(BackendChannel&& other) noexcept;
    BackendChannel& operator=(BackendChannel&& other) noexcept;
    BackendChannel(const BackendChannel&) = delete;
    BackendChannel& operator=(const BackendChannel&) = delete;
    ~BackendChannel() { reset(); }

    evtchn_port_t port() const noexcept { return port_; }
    void notify() const noexcept;
    void reset() noexcept;

private:
    BackendChannel(Domain& domain, evtchn_port_t port, int doorbell_fd)
        : domain_(&domain), port_(port), doorbell_fd_(doorbell_fd) {}

    Domain* domain_ = nullptr;  // null: moved from or reset
    evtchn_port_t port_ = 0;
    int doorbell_fd_ = -1;
};

}  // namespace domus::monitor
