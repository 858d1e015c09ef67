// One client of the store: a guest's ring, or a socket client in dom0. Owned by
// the Store; the transport holds a reference from Store::connect until disconnect.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "store/path.hpp"
#include "store/transaction.hpp"
#include "store/watches.hpp"
#include "store/wire.hpp"

namespace domus::store {

// A connection's identity across store restarts: the journal and the fd keeper both
// name a connection by it. Ids below kFirstConnectionId are reserved (listeners).
using ConnectionId = std::uint64_t;
inline constexpr ConnectionId kFirstConnectionId = 16;

// The last journaled request of a connection and its reply, so that a restarted store
// recognises a request it already applied (still unconsumed in the socket or ring) and
// answers it instead of applying it twice. For a ring, also where the request ended in
// `req` and where the reply starts in `rsp` (free-running indices).
struct ReplyRecord {
    std::string request;  // socket: the batch's length and crc32c; ring: a big request's start
    std::string reply;    // the whole encoded reply (no events)
    bool ring = false;
    std::uint32_t req_cons_after = 0;
    std::uint32_t rsp_prod_before = 0;
    bool operator==(const ReplyRecord&) const = default;
};

struct ConnectionConfig {
    DomainId domid = 0;       // the domain the client runs in; its home for relative paths
    bool privileged = false;  // dom0 / socket: passes every permission check and quota
};

class Connection {
public:
    Connection(const ConnectionConfig& config, ConnectionId id) : config_(config), id_(id) {}
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    ConnectionId id() const noexcept { return id_; }
    DomainId domid() const noexcept { return config_.domid; }
    bool privileged() const noexcept { return config_.privileged; }
    std::size_t pending_events() const noexcept { return events_.size(); }
    std::size_t open_transactions() const noexcept { return transactions_.size(); }
    const WatchList& watches() const noexcept { return watches_; }
    const std::optional<ReplyRecord>& last_reply() const noexcept { return last_reply_; }

private:
    friend class Store;

    ConnectionConfig config_;
    ConnectionId id_;
    Decoder decoder_;  // used by Store::receive only
    WatchList watches_;
    std::map<std::uint32_t, std::unique_ptr<Transaction>> transactions_;
    std::uint32_t last_transaction_id_ = 0;
    // Restored after a store restart: transactions up to this id were open then and are
    // aborted; a request naming one gets EAGAIN (commit again), not ENOENT.
    std::uint32_t aborted_transactions_upto_ = 0;
    std::optional<ReplyRecord> last_reply_;
    bool claimed_ = true;         // false between a restart's replay and a transport adopting it
    std::deque<Message> events_;  // WATCH_EVENTs not yet taken by the transport
};

}  // namespace domus::store
