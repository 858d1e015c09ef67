// ToolSocketServer: accept loop and the per-client byte stream of the tool socket.
#include "store/tool_socket_server.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "base/log.hpp"

namespace domus::store {

// One tool connection: its socket, its store Connection and the output not yet sent.
class ToolSocketServer::Client final : public Peer {
public:
    Client(ToolSocketServer& server, Fd fd)
        : server_(server), fd_(std::move(fd)), connection_(server.store_.connect({0, true})) {}

    void send(std::string_view bytes) noexcept override {
        try {
            out_.append(bytes);
            flush();
        } catch (...) {  // no room for this client's events: it loses its connection
            broken_ = true;
            (void)server_.loop_.modify(token, EPOLLOUT | EPOLLRDHUP);  // serve() closes it
        }
    }

    // Reads what is available (bounded), feeds the store, writes the replies.
    // False: close this client.
    bool on_events(std::uint32_t events) {
        if (events & EPOLLIN) {
            char buffer[64 * 1024];
            ssize_t n = ::recv(fd_.get(), buffer, sizeof(buffer), MSG_DONTWAIT);
            if (n == 0) return false;
            if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
            if (n > 0) {
                Store::Output output =
                    server_.store_.receive(connection_, std::string_view(buffer, size_t(n)));
                out_.append(output.bytes);
                if (output.close) {
                    DOMUS_LOG_WARN("xenstored", "tool client sent an oversized payload; closed");
                    return false;
                }
            }
        } else if (events & (EPOLLHUP | EPOLLERR)) {
            return false;
        }
        flush();
        return !broken_;
    }

    void flush() {
        while (head_ < out_.size()) {
            ssize_t n = ::send(fd_.get(), out_.data() + head_, out_.size() - head_,
                               MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno != EAGAIN) broken_ = true;  // EPOLLERR/HUP closes it next
                break;
            }
            head_ += size_t(n);
        }
        if (head_ == out_.size()) {
            out_.clear();
            head_ = 0;
        }
        update_interest();
    }

    // Wants EPOLLOUT while output is queued; stops reading while too much is queued.
    void update_interest() {
        std::uint32_t wanted = EPOLLRDHUP;
        std::size_t queued = out_.size() - head_;
        if (queued < kReplyBackpressure) wanted |= EPOLLIN;
        if (queued > 0) wanted |= EPOLLOUT;
        if (wanted == interest_) return;
        if (server_.loop_.modify(token, wanted)) interest_ = wanted;
    }

    ToolSocketServer& server_;
    Fd fd_;
    Connection& connection_;
    std::string out_;
    std::size_t head_ = 0;
    bool broken_ = false;
    EventLoop::Token token = 0;
    std::uint32_t interest_ = EPOLLIN | EPOLLRDHUP;
};

Result<std::unique_ptr<ToolSocketServer>> ToolSocketServer::listen(EventLoop& loop, Store& store,
                                                                   EventRouter& router,
                                                                   std::string path) {
    std::unique_ptr<ToolSocketServer> server(new ToolSocketServer(loop, store, router));
    DOMUS_TRY(listener,
              UnixListener::listen(loop, std::move(path), SOCK_STREAM,
                                   [s = server.get()](Fd fd) { s->add_client(std::move(fd)); }));
    server->listener_ = std::move(listener);
    return server;
}

ToolSocketServer::ToolSocketServer(EventLoop& loop, Store& store, EventRouter& router)
    : loop_(loop), store_(store), router_(router) {}

ToolSocketServer::~ToolSocketServer() {
    while (!clients_.empty())
        close_client(clients_.front());
}

void ToolSocketServer::add_client(Fd fd) {
    Client& client = clients_.emplace_back(*this, std::move(fd));
    try {
        router_.attach(client.connection_, client);
        auto token = loop_.add(client.fd_.get(), client.interest_,
                               [this, &client](std::uint32_t events) { serve(client, events); });
        if (!token) throw std::runtime_error(token.error().message);
        client.token = *token;
    } catch (...) {  // UnixListener logs it
        close_client(client);
        throw;
    }
}

void ToolSocketServer::serve(Client& client, std::uint32_t events) noexcept {
    bool keep = false;
    try {
        keep = client.on_events(events);
        router_.route();  // watch events and domain changes this client caused
    } catch (...) {
        keep = false;
        try {
            DOMUS_LOG_WARN("xenstored", "tool client: request failed unexpectedly; closed");
        } catch (...) {  // out of memory: closing it matters more than saying so
        }
    }
    if (!keep) close_client(client);
}

void ToolSocketServer::close_client(Client& client) noexcept {
    loop_.remove(client.token);  // 0 (never added) is no token
    router_.detach(client.connection_);
    store_.disconnect(client.connection_);
    clients_.remove_if([&](const Client& c) { return &c == &client; });
}

}  // namespace domus::store
