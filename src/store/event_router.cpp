// EventRouter: watch events to their peers, domain changes to the daemon.
#include "store/event_router.hpp"

namespace domus::store {

void EventRouter::route() {
    for (Connection* connection : store_.take_notified()) {
        std::string bytes = store_.take_event_bytes(*connection);
        auto it = peers_.find(connection);
        if (it != peers_.end() && !bytes.empty()) it->second->send(bytes);
    }
    for (const DomainChange& change : store_.take_domain_changes())
        if (on_domain_change) on_domain_change(change);
}

}  // namespace domus::store
