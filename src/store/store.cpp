// The Store facade: connections, message dispatch, watch-event delivery and the
// byte-stream entry point. The individual requests are in store_requests.cpp.
#include "store/store.hpp"

#include <algorithm>
#include <new>

namespace domus::store {
namespace {

// Types only privileged connections may send (reference 1.2, "P").
bool privileged_type(std::uint32_t type) {
    switch (type) {
        case XS_CONTROL:
        case XS_INTRODUCE:
        case XS_RELEASE:
        case XS_IS_DOMAIN_INTRODUCED:
        case XS_RESUME:
        case XS_SET_TARGET:
            return true;
        default:
            return false;
    }
}

}  // namespace

Store::Store(Quotas quotas) : quotas_(quotas) {
    for (auto special : {kIntroduceDomain, kReleaseDomain})
        special_perms_.emplace(std::string(special), PermissionList{Permission{0, kAccessNone}});
}

Connection& Store::connect(const ConnectionConfig& config, ConnectionId id) {
    if (id == 0) id = next_connection_id_;
    if (id >= next_connection_id_) next_connection_id_ = id + 1;
    Connection& connection = connections_.emplace_back(config, id);
    mark(connection);
    return connection;
}

void Store::disconnect(Connection& connection) {
    if (tracking_) {
        dirty_connections_.erase(connection.id());
        dirty_replies_.erase(connection.id());
        closed_connections_.insert(connection.id());
    }
    std::erase(notified_, &connection);
    connections_.remove_if([&](const Connection& c) { return &c == &connection; });
}

Caller Store::caller_of(const Connection& connection) const {
    Caller caller{connection.domid(), connection.privileged(), std::nullopt};
    if (auto it = targets_.find(connection.domid()); it != targets_.end())
        caller.target = it->second;
    return caller;
}

Result<ResolvedPath> Store::path_argument(const Connection& connection, std::string_view raw,
                                          bool allow_special) const {
    PathRules rules{allow_special, connection.privileged() ? 0 : quotas_.relative_path_max};
    return resolve_path(raw, connection.domid(), rules);
}

Message Store::handle(Connection& connection, const Message& request) noexcept {
    try {
        if (privileged_type(request.type) && !connection.privileged())
            return make_error(request, XsError::Acces);
        auto result = dispatch(connection, request);
        if (!result) return make_error(request, xs_error_of(result.error()));
        return make_reply(request, std::move(result.value()));
    } catch (const std::bad_alloc&) {
        return make_error(request, XsError::NoMem);
    } catch (...) {
        return make_error(request, XsError::Io);
    }
}

Result<std::string> Store::dispatch(Connection& connection, const Message& request) {
    // An unknown nonzero tx_id fails every request that may carry one.
    bool uses_tx_id = request.type != XS_WATCH && request.type != XS_UNWATCH;
    if (uses_tx_id && request.tx_id != 0 && !connection.transactions_.contains(request.tx_id)) {
        // Open when the store was restarted: aborted, so the client starts it again.
        if (request.tx_id <= connection.aborted_transactions_upto_) return xs_error(XsError::Again);
        return xs_error(XsError::NoEnt);
    }

    switch (request.type) {
        case XS_DIRECTORY:
        case XS_DIRECTORY_PART:
        case XS_READ:
        case XS_GET_PERMS:
        case XS_WRITE:
        case XS_MKDIR:
        case XS_RM:
        case XS_SET_PERMS:
            return node_request(connection, request);
        case XS_WATCH:
        case XS_UNWATCH:
        case XS_RESET_WATCHES:
            return watch_request(connection, request);
        case XS_TRANSACTION_START:
            return transaction_start(connection, request);
        case XS_TRANSACTION_END:
            return transaction_end(connection, request);
        case XS_INTRODUCE:
        case XS_RELEASE:
        case XS_GET_DOMAIN_PATH:
        case XS_IS_DOMAIN_INTRODUCED:
        case XS_RESUME:
        case XS_SET_TARGET:
            return domain_request(connection, request);
        default:
            return xs_error(XsError::NoSys);  // CONTROL, server-only and unknown types
    }
}

void Store::fire(const Change& change) {
    const PermissionList* perms = &change.perms;
    if (is_special_path(change.path)) perms = &special_perms_.find(change.path)->second;
    for (Connection& connection : connections_) {
        if (connection.watches_.size() == 0) continue;
        Caller caller = caller_of(connection);
        bool readable =
            (access_for(*perms, caller) & kAccessRead) ||
            (!change.old_perms.empty() && (access_for(change.old_perms, caller) & kAccessRead));
        if (!readable) continue;
        std::string home = domain_home(connection.domid());
        for (const Watch& watch : connection.watches_.all()) {
            auto path = event_path(watch, change, home);
            if (path && fits_watch_event(*path, watch.token))
                queue_event(connection, make_watch_event(*path, watch.token));
        }
    }
}

void Store::queue_event(Connection& connection, Message event) {
    // Like xenstored, an event identical to one still queued is coalesced.
    if (std::find(connection.events_.begin(), connection.events_.end(), event) !=
        connection.events_.end())
        return;
    if (connection.events_.empty() &&
        std::find(notified_.begin(), notified_.end(), &connection) == notified_.end())
        notified_.push_back(&connection);
    connection.events_.push_back(std::move(event));
}

std::vector<Message> Store::take_events(Connection& connection) {
    std::vector<Message> events(std::make_move_iterator(connection.events_.begin()),
                                std::make_move_iterator(connection.events_.end()));
    connection.events_.clear();
    return events;
}

std::string Store::take_event_bytes(Connection& connection) {
    std::string bytes;
    for (const Message& event : connection.events_)
        encode(event, bytes);
    connection.events_.clear();
    return bytes;
}

std::vector<Connection*> Store::take_notified() {
    std::vector<Connection*> notified;
    notified.swap(notified_);
    return notified;
}

Store::Output Store::receive(Connection& connection, std::string_view bytes) {
    Output output;
    connection.decoder_.feed(bytes);
    while (true) {
        auto next = connection.decoder_.next();
        if (next.status == Decoder::Status::NeedMore) break;
        if (next.status == Decoder::Status::Violation) {
            output.close = true;
            break;
        }
        encode(handle(connection, next.message), output.bytes);
        output.bytes += take_event_bytes(connection);
    }
    output.bytes += take_event_bytes(connection);
    return output;
}

void Store::domain_shutdown(DomainId domid) {
    auto it = domains_.find(domid);
    if (it == domains_.end() || it->second.release_fired) return;
    it->second.release_fired = true;
    mark_domain(domid);
    fire(Change{std::string(kReleaseDomain), {}, {}, false});
}

const DomainRecord* Store::domain(DomainId domid) const {
    auto it = domains_.find(domid);
    return it == domains_.end() ? nullptr : &it->second;
}

std::vector<DomainChange> Store::take_domain_changes() {
    std::vector<DomainChange> changes;
    changes.swap(domain_changes_);
    return changes;
}

}  // namespace domus::store
