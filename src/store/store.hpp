// The XenStore engine: a tree, its connections, watches, transactions, quotas and
// the domain table, driven one complete message at a time. No threads, no I/O: a
// transport (Unix socket, guest ring) owns the bytes and calls in.
//
// How a transport uses it:
//   Connection& c = store.connect({.domid = 7, .privileged = false});
//   // on readable bytes:
//   Store::Output out = store.receive(c, bytes);  // decode, handle, encode replies + events
//   send(out.bytes); if (out.close) { store.disconnect(c); drop the channel; }
//   // after any receive(), other connections may have watch events waiting:
//   for (Connection* other : store.take_notified()) send(store.take_event_bytes(*other));
//   // and act on INTRODUCE / RELEASE:
//   for (DomainChange change : store.take_domain_changes()) { map ring / unmap ring }
// Or, at the message level: handle() returns the reply; take_events() the events that
// must be sent after it (the first event of a WATCH comes after its OK).
#pragma once

#include <list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "store/connection.hpp"
#include "store/domains.hpp"
#include "store/node_tree.hpp"
#include "store/quotas.hpp"
#include "store/wire.hpp"

namespace domus::store {

class Store {
public:
    explicit Store(Quotas quotas = {});
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    // The returned reference stays valid until disconnect().
    Connection& connect(const ConnectionConfig& config);
    // Drops the connection with its watches, open transactions and pending events.
    void disconnect(Connection& connection);

    // Handles one request and returns its reply (the request's type, or XS_ERROR).
    // Never throws; hostile input gets an error reply.
    Message handle(Connection& connection, const Message& request) noexcept;

    // Watch events queued for `connection`, oldest first; the queue is emptied.
    std::vector<Message> take_events(Connection& connection);
    std::string take_event_bytes(Connection& connection);
    // Connections that got events since the last call (each listed once).
    std::vector<Connection*> take_notified();

    struct Output {
        std::string bytes;   // encoded replies and this connection's watch events, in order
        bool close = false;  // protocol violation (oversized payload): drop the connection
    };
    // Byte-stream entry: reassembles messages across calls, handles each complete one.
    Output receive(Connection& connection, std::string_view bytes);

    // The toolstack reports that a domain shut down or crashed: fires @releaseDomain
    // once, until RESUME re-arms it.
    void domain_shutdown(DomainId domid);
    const DomainRecord* domain(DomainId domid) const;
    std::vector<DomainChange> take_domain_changes();

    const NodeTree& tree() const noexcept { return tree_; }
    const Quotas& quotas() const noexcept { return quotas_; }

private:
    Result<std::string> dispatch(Connection& connection, const Message& request);
    Result<std::string> node_request(Connection& connection, const Message& request);
    Result<std::string> watch_request(Connection& connection, const Message& request);
    Result<std::string> transaction_start(Connection& connection, const Message& request);
    Result<std::string> transaction_end(Connection& connection, const Message& request);
    Result<std::string> domain_request(Connection& connection, const Message& request);
    Result<std::string> special_perms_request(Connection& connection, const Message& request,
                                              const std::string& path);

    Caller caller_of(const Connection& connection) const;
    Result<ResolvedPath> path_argument(const Connection& connection, std::string_view raw,
                                       bool allow_special) const;
    void fire(const Change& change);
    void queue_event(Connection& connection, Message event);

    Quotas quotas_;
    NodeTree tree_;
    std::list<Connection> connections_;
    std::vector<Connection*> notified_;
    std::map<DomainId, DomainRecord> domains_;
    std::map<DomainId, DomainId> targets_;  // SET_TARGET: domid -> the domain it serves
    std::map<std::string, PermissionList, std::less<>> special_perms_;
    std::vector<DomainChange> domain_changes_;
};

}  // namespace domus::store
