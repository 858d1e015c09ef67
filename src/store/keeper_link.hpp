// KeeperLink: the store daemon's end of the fd keeper protocol (keeper_protocol.hpp).
// The servers deposit each fd their state needs and withdraw it on close; the link
// forwards that to the keeper (domusd) when one is connected, and remembers it all so
// that a new keeper (a restarted domusd) gets every deposit again.
#pragma once

#include <map>
#include <vector>

#include "base/fd.hpp"
#include "store/connection.hpp"
#include "store/event_loop.hpp"
#include "store/keeper_protocol.hpp"

namespace domus::store {

class KeeperLink {
public:
    explicit KeeperLink(EventLoop& loop) : loop_(loop) {}
    ~KeeperLink() { drop(); }
    KeeperLink(const KeeperLink&) = delete;
    KeeperLink& operator=(const KeeperLink&) = delete;

    // A new keeper replaces the old one: it gets Reset, then every deposit.
    void connect(Fd socket) noexcept;
    // `fds` stay owned by the caller, who withdraws them before closing them.
    void deposit(ConnectionId id, KeptKind kind, std::vector<int> fds,
                 const DomainAttach& attach = {}) noexcept;
    void withdraw(ConnectionId id) noexcept;
    // A clean stop: the keeper must not start another store.
    void stopping() noexcept;

    bool connected() const noexcept { return bool(socket_); }
    std::size_t deposits() const noexcept { return kept_.size(); }

private:
    struct Kept {
        KeptKind kind;
        std::vector<int> fds;
        DomainAttach attach;
    };
    bool send(const KeeperMessage& message, const std::vector<int>& fds) noexcept;
    void drop() noexcept;

    EventLoop& loop_;
    Fd socket_;
    EventLoop::Token token_ = 0;
    std::map<ConnectionId, Kept> kept_;
};

}  // namespace domus::store
