// EventRouter: after the store handled requests, hands each connection's queued watch
// events to the transport peer that owns it (a socket client or a guest ring), and
// reports INTRODUCE / RELEASE changes. Shared by all transports of one daemon.
#pragma once

#include <functional>
#include <string_view>
#include <unordered_map>

#include "store/store.hpp"

namespace domus::store {

// The transport end of one store Connection.
class Peer {
public:
    // Queues encoded messages (whole messages only) for the client. Must not close the
    // peer; a broken channel is noticed by its own fd. A failure here (even out of
    // memory) is the peer's alone: it may stop serving its client (detach) but never
    // throws into route(), which is running another client's request.
    virtual void send(std::string_view bytes) noexcept = 0;

protected:
    ~Peer() = default;
};

class EventRouter {
public:
    explicit EventRouter(Store& store) : store_(store) {}

    void attach(Connection& connection, Peer& peer) { peers_[&connection] = &peer; }
    void detach(Connection& connection) { peers_.erase(&connection); }

    // Called for every domain change the store reports (after the events are routed).
    std::function<void(const DomainChange&)> on_domain_change;

    // Call after every Store::receive/handle: routes pending events, then changes.
    void route();

private:
    Store& store_;
    std::unordered_map<Connection*, Peer*> peers_;
};

}  // namespace domus::store
