// One client of the store: a guest's ring, or a socket client in dom0. Owned by
// the Store; the transport holds a reference from Store::connect until disconnect.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>

#include "store/path.hpp"
#include "store/transaction.hpp"
#include "store/watches.hpp"
#include "store/wire.hpp"

namespace domus::store {

struct ConnectionConfig {
    DomainId domid = 0;       // the domain the client runs in; its home for relative paths
    bool privileged = false;  // dom0 / socket: passes every permission check and quota
};

class Connection {
public:
    explicit Connection(const ConnectionConfig& config) : config_(config) {}
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    DomainId domid() const noexcept { return config_.domid; }
    bool privileged() const noexcept { return config_.privileged; }
    std::size_t pending_events() const noexcept { return events_.size(); }
    std::size_t open_transactions() const noexcept { return transactions_.size(); }
    const WatchList& watches() const noexcept { return watches_; }

private:
    friend class Store;

    ConnectionConfig config_;
    Decoder decoder_;  // used by Store::receive only
    WatchList watches_;
    std::map<std::uint32_t, std::unique_ptr<Transaction>> transactions_;
    std::uint32_t last_transaction_id_ = 0;
    std::deque<Message> events_;  // WATCH_EVENTs not yet taken by the transport
};

}  // namespace domus::store
