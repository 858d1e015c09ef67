// ToolSocketServer: Xen's tool socket (<run dir>/xenstored/socket, SOCK_STREAM). Every
// client is a privileged Domain-0 connection speaking the wire protocol (reference
// 1.9), so Debian's xenstore-utils work with XENSTORED_PATH pointing here.
//
// Surviving a store restart (docs/store-semantics.md, "Restart durability"): requests
// are read with MSG_PEEK and only whole; a batch of them is handled, journaled, answered,
// and only then consumed from the socket, so a request the store dies on is still in
// the socket for the next store, which answers an already-applied one from the journal.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <string>

#include "base/fd.hpp"
#include "base/result.hpp"
#include "store/event_loop.hpp"
#include "store/event_router.hpp"
#include "store/keeper_link.hpp"
#include "store/state_journal.hpp"
#include "store/unix_listener.hpp"

namespace domus::store {

class ToolSocketServer {
public:
    // Output queued for a client beyond which its requests are not read until it
    // reads its replies.
    static constexpr std::size_t kReplyBackpressure = 1024 * 1024;

    // Binds `path` (an existing file there is removed first) with mode 0600 and
    // starts accepting; or, with `listening` (from the fd keeper), accepts on that.
    // The socket file is removed again by the destructor.
    static Result<std::unique_ptr<ToolSocketServer>> listen(EventLoop& loop, Store& store,
                                                            EventRouter& router, std::string path,
                                                            Durable durable = {},
                                                            Fd listening = Fd());
    ~ToolSocketServer();

    // A connection handed back by the fd keeper after a restart: its restored store
    // connection `id` (or a fresh one under that id if the journal has none).
    void adopt(Fd fd, ConnectionId id);

    // How the journal names a batch of requests (its length and checksum), so that a
    // restarted store recognises it at the head of the socket.
    static std::string batch_digest(std::string_view batch);

    std::size_t clients() const noexcept { return clients_.size(); }
    int listening_fd() const noexcept { return listener_->fd(); }

private:
    class Client;
    ToolSocketServer(EventLoop& loop, Store& store, EventRouter& router, Durable durable);
    Client& add_client(Fd fd, Connection& connection);
    // Serves one readiness event; whatever goes wrong, even an exception, costs only
    // this client its connection.
    void serve(Client& client, std::uint32_t events) noexcept;
    void close_client(Client& client) noexcept;

    EventLoop& loop_;
    Store& store_;
    EventRouter& router_;
    Durable durable_;
    std::list<Client> clients_;
    std::unique_ptr<UnixListener> listener_;
};

}  // namespace domus::store
