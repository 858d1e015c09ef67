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
#include <set>
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

    // The returned reference stays valid until disconnect(). `id` (from the fd keeper
    // after a restart) must be unused and at least kFirstConnectionId; 0 picks a new one.
    Connection& connect(const ConnectionConfig& config, ConnectionId id = 0);
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

    // Durability (store_state.cpp). With tracking on, the store remembers what each
    // request changed (nodes, connections' watches and transaction ids, the domain
    // table, targets, the special paths' permissions, last replies) and take_changes()
    // encodes the new state of exactly those things as one journal record payload
    // (empty if nothing changed). Every entry in it is absolute, so replaying a record
    // twice, or on a state that already contains it, changes nothing.
    void track_changes(bool on);
    std::string take_changes();
    bool has_changes() const noexcept {
        return !changed_nodes_.empty() || !dirty_connections_.empty() || !dirty_replies_.empty() ||
               !closed_connections_.empty() || !dirty_domains_.empty() || targets_dirty_ ||
               special_dirty_;
    }
    // The whole state in the same encoding (a snapshot).
    std::string encode_state() const;
    // Applies one record (or snapshot). Connections it creates are unclaimed until a
    // transport adopts them; their transactions are aborted (EAGAIN on use). EINVAL
    // if the payload is malformed (nothing after the bad entry is applied).
    Result<void> apply_state(std::string_view payload);
    // After a restart: ids the fd keeper handed back are never given to new connections
    // (one may have been deposited before the journal recorded it).
    void reserve_connection_id(ConnectionId id) noexcept {
        if (id >= next_connection_id_) next_connection_id_ = id + 1;
    }
    // After a restart: the restored connection `id` for a transport, or null.
    Connection* adopt(ConnectionId id);
    // Drops every restored connection no transport adopted; returns their ids.
    std::vector<ConnectionId> drop_unclaimed();
    // Queues one event for every watch of every connection (after a restart events in
    // flight may be lost; a spurious event is always legal, so clients re-read).
    void fire_all_watches();
    // The transport's record of the request it just answered (journaled with the changes).
    void set_last_reply(Connection& connection, ReplyRecord record);
    std::vector<DomainId> domain_ids() const;

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
    void mark(const Connection& connection) {
        if (tracking_) dirty_connections_.insert(connection.id());
    }
    void mark_domain(DomainId domid) {
        if (tracking_) dirty_domains_.insert(domid);
    }
    Connection* find_connection(ConnectionId id);

    Quotas quotas_;
    NodeTree tree_;
    std::list<Connection> connections_;
    std::vector<Connection*> notified_;
    std::map<DomainId, DomainRecord> domains_;
    std::map<DomainId, DomainId> targets_;  // SET_TARGET: domid -> the domain it serves
    std::map<std::string, PermissionList, std::less<>> special_perms_;
    std::vector<DomainChange> domain_changes_;
    ConnectionId next_connection_id_ = kFirstConnectionId;

    // Change tracking for the journal.
    bool tracking_ = false;
    std::vector<std::string> changed_nodes_;
    std::set<ConnectionId> dirty_connections_;  // watches, transaction ids
    std::set<ConnectionId> dirty_replies_;      // last reply records only
    std::set<ConnectionId> closed_connections_;
    std::set<DomainId> dirty_domains_;
    bool targets_dirty_ = false;
    bool special_dirty_ = false;
};

}  // namespace domus::store
