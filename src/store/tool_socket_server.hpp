// ToolSocketServer: Xen's tool socket (<run dir>/xenstored/socket, SOCK_STREAM). Every
// client is a privileged Domain-0 connection speaking the wire protocol (reference
// 1.9), so Debian's xenstore-utils work with XENSTORED_PATH pointing here.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <string>

#include "base/fd.hpp"
#include "base/result.hpp"
#include "store/event_loop.hpp"
#include "store/event_router.hpp"
#include "store/unix_listener.hpp"

namespace domus::store {

class ToolSocketServer {
public:
    // Output queued for a client beyond which its requests are not read until it
    // reads its replies.
    static constexpr std::size_t kReplyBackpressure = 1024 * 1024;

    // Binds `path` (an existing file there is removed first) with mode 0600 and
    // starts accepting. The socket file is removed again by the destructor.
    static Result<std::unique_ptr<ToolSocketServer>> listen(EventLoop& loop, Store& store,
                                                            EventRouter& router, std::string path);
    ~ToolSocketServer();

    std::size_t clients() const noexcept { return clients_.size(); }

private:
    class Client;
    ToolSocketServer(EventLoop& loop, Store& store, EventRouter& router);
    void add_client(Fd fd);
    // Serves one readiness event; whatever goes wrong, even an exception, costs only
    // this client its connection.
    void serve(Client& client, std::uint32_t events) noexcept;
    void close_client(Client& client) noexcept;

    EventLoop& loop_;
    Store& store_;
    EventRouter& router_;
    std::list<Client> clients_;
    std::unique_ptr<UnixListener> listener_;
};

}  // namespace domus::store
