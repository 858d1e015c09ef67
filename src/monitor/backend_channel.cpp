// BackendChannel: binding a frontend's port to a backend doorbell, and undoing it.
#include "monitor/backend_channel.hpp"

#include <utility>

#include "monitor/domain.hpp"

namespace domus::monitor {

Result<BackendChannel> BackendChannel::bind(Domain& domain, evtchn_port_t port, int doorbell_fd) {
    if (domain.events().connect_backend(port, 0, doorbell_fd) != 0)
        return make_error("event channel {} is not offered to domain 0", port);
    if (auto doorbell = domain.vm().add_pio_eventfd(doorbell_fd, DOMUS_DOORBELL_PORT, 4, port);
        !doorbell) {
        domain.events().disconnect_backend(port);
        return std::move(doorbell).error();
    }
    return BackendChannel(domain, port, doorbell_fd);
}

BackendChannel::BackendChannel(BackendChannel&& other) noexcept
    : domain_(std::exchange(other.domain_, nullptr)),
      port_(other.port_),
      doorbell_fd_(other.doorbell_fd_) {}

BackendChannel& BackendChannel::operator=(BackendChannel&& other) noexcept {
    if (this != &other) {
        reset();
        domain_ = std::exchange(other.domain_, nullptr);
        port_ = other.port_;
        doorbell_fd_ = other.doorbell_fd_;
    }
    return *this;
}

void BackendChannel::notify() const noexcept {
    if (domain_) domain_->events().raise(port_);
}

void BackendChannel::reset() noexcept {
    if (!domain_) return;
    (void)domain_->vm().remove_pio_eventfd(doorbell_fd_, DOMUS_DOORBELL_PORT, 4, port_);
    domain_->events().disconnect_backend(port_);
    domain_ = nullptr;
}

}  // namespace domus::monitor
