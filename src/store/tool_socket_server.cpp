// ToolSocketServer: accept loop and the per-client byte stream of the tool socket.
#include "store/tool_socket_server.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "base/log.hpp"

namespace domus::store {
namespace {

// Room for several pipelined requests; a single one (header + XENSTORE_PAYLOAD_MAX)
// always fits, so a whole request is never too big to peek.
constexpr std::size_t kPeekBytes = 64 * 1024;

// Whether `bytes` starts with the batch `digest` describes; its length if so.
std::size_t matches_digest(std::string_view bytes, std::string_view digest) {
    std::uint32_t fields[2];
    if (digest.size() != sizeof(fields)) return 0;
    std::memcpy(fields, digest.data(), sizeof(fields));
    if (fields[0] == 0 || fields[0] > bytes.size()) return 0;
    return crc32c(bytes.substr(0, fields[0])) == fields[1] ? fields[0] : 0;
}

}  // namespace

// One tool connection: its socket, its store Connection and the output not yet sent.
class ToolSocketServer::Client final : public Peer {
public:
    Client(ToolSocketServer& server, Fd fd, Connection& connection)
        : server_(server), fd_(std::move(fd)), connection_(connection) {}

    void send(std::string_view bytes) noexcept override {
        try {
            out_.append(bytes);
            flush();
        } catch (...) {  // no room for this client's events: it loses its connection
            broken_ = true;
            (void)server_.loop_.modify(token,
                                       EPOLLOUT | EPOLLRDHUP | EPOLLET);  // serve() closes it
        }
    }

    // Sends queued output, then handles the whole requests waiting in the socket.
    // Edge-triggered: a request's tail arriving is a new edge. False: close this client.
    bool on_events(std::uint32_t events) {
        if (events & EPOLLRDHUP) peer_closed_ = true;
        if (events & EPOLLERR) {
            DOMUS_LOG_WARN("xenstored", "tool client {}: socket error; closed", connection_.id());
            return false;
        }
        flush();
        while (!broken_ && queued() < kReplyBackpressure) {
            auto more = handle_batch();
            if (!more) {
                DOMUS_LOG_WARN("xenstored", "tool client: {}; closed", more.error().message);
                return false;
            }
            if (!*more) break;
        }
        // A peer that stopped sending, with no whole request left, is done.
        if (peer_closed_ && !broken_ && queued() < kReplyBackpressure && !whole_request_waiting())
            return false;
        return !broken_;
    }

    // Peeks the whole requests waiting, handles them, journals what they changed (with
    // the batch and its replies), sends the replies, and only then consumes the batch
    // from the socket. True: a batch was handled; false: none is whole yet.
    Result<bool> handle_batch() {
        char buffer[kPeekBytes];
        ssize_t n = ::recv(fd_.get(), buffer, sizeof(buffer), MSG_PEEK | MSG_DONTWAIT);
        if (n == 0) {
            peer_closed_ = true;
            return false;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return false;
            return errno_error("recv");
        }
        std::string_view bytes(buffer, std::size_t(n));
        Decoder decoder;
        decoder.feed(bytes);
        std::vector<Message> batch;
        std::size_t used = 0;
        while (true) {
            auto next = decoder.next();
            if (next.status == Decoder::Status::Violation) {
                DOMUS_LOG_WARN("xenstored", "tool client sent an oversized payload; closed");
                return domus::make_error("oversized payload");
            }
            if (next.status == Decoder::Status::NeedMore) break;
            used += sizeof(xsd_sockmsg) + next.message.payload.size();
            batch.push_back(std::move(next.message));
        }
        if (batch.empty()) return false;
        std::string_view requests = bytes.substr(0, used);

        std::string replies;
        const auto& last = connection_.last_reply();
        std::size_t replayed =
            check_replayed_ && last && !last->ring ? matches_digest(bytes, last->request) : 0;
        if (replayed > 0) {
            // Applied and journaled by the store that died, not yet consumed: answer it
            // from the journal rather than apply it twice.
            replies = last->reply;
            used = replayed;
            out_.append(replies);
        } else {
            for (const Message& request : batch) {
                std::string reply;
                encode(server_.store_.handle(connection_, request), reply);
                replies += reply;
                out_.append(reply);
                out_.append(server_.store_.take_event_bytes(connection_));
            }
            if (StateJournal* journal = server_.durable_.journal; journal && journal->pending()) {
                server_.store_.set_last_reply(connection_,
                                              ReplyRecord{batch_digest(requests), replies});
                journal->commit();
            }
        }
        check_replayed_ = false;
        // Send, then consume exactly the batch (it is in the socket: we peeked it, so
        // this can't block). The other order would lose the replies of a store killed in
        // between, and the client would wait forever; this one answers that batch again
        // from the journal, which a client matching req_ids skips (docs/store-semantics.md).
        flush();
        ssize_t consumed = ::recv(fd_.get(), buffer, used, MSG_DONTWAIT);
        if (consumed != ssize_t(used)) return domus::make_error("recv of a peeked batch");
        return true;
    }

    bool whole_request_waiting() {
        xsd_sockmsg header;
        ssize_t n = ::recv(fd_.get(), &header, sizeof(header), MSG_PEEK | MSG_DONTWAIT);
        if (n != ssize_t(sizeof(header))) return false;
        char probe[sizeof(header) + XENSTORE_PAYLOAD_MAX];
        std::size_t want = sizeof(header) + std::min<std::size_t>(header.len, XENSTORE_PAYLOAD_MAX);
        return ::recv(fd_.get(), probe, want, MSG_PEEK | MSG_DONTWAIT) == ssize_t(want);
    }

    std::size_t queued() const noexcept { return out_.size() - head_; }

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
    }

    ToolSocketServer& server_;
    Fd fd_;
    Connection& connection_;
    std::string out_;
    std::size_t head_ = 0;
    bool broken_ = false;
    bool peer_closed_ = false;
    bool check_replayed_ = false;  // adopted after a restart: the first batch may be done
    EventLoop::Token token = 0;
};

Result<std::unique_ptr<ToolSocketServer>> ToolSocketServer::listen(EventLoop& loop, Store& store,
                                                                   EventRouter& router,
                                                                   std::string path,
                                                                   Durable durable, Fd listening) {
    std::unique_ptr<ToolSocketServer> server(new ToolSocketServer(loop, store, router, durable));
    auto accept = [s = server.get()](Fd fd) {
        Connection& connection = s->store_.connect({0, true});
        try {
            if (s->durable_.keeper)
                s->durable_.keeper->deposit(connection.id(), KeptKind::ToolClient, {fd.get()});
            if (s->durable_.journal) s->durable_.journal->commit();
            s->add_client(std::move(fd), connection);
        } catch (...) {
            if (s->durable_.keeper) s->durable_.keeper->withdraw(connection.id());
            throw;
        }
    };
    if (listening) {
        DOMUS_TRY(listener,
                  UnixListener::adopt(loop, std::move(path), std::move(listening), accept));
        server->listener_ = std::move(listener);
    } else {
        DOMUS_TRY(listener, UnixListener::listen(loop, std::move(path), SOCK_STREAM, accept));
        server->listener_ = std::move(listener);
    }
    return server;
}

// The bytes themselves would double the journal; length and checksum suffice.
std::string ToolSocketServer::batch_digest(std::string_view batch) {
    std::uint32_t fields[2] = {std::uint32_t(batch.size()), crc32c(batch)};
    return std::string(reinterpret_cast<const char*>(fields), sizeof(fields));
}

ToolSocketServer::ToolSocketServer(EventLoop& loop, Store& store, EventRouter& router,
                                   Durable durable)
    : loop_(loop), store_(store), router_(router), durable_(durable) {}

ToolSocketServer::~ToolSocketServer() {
    while (!clients_.empty())
        close_client(clients_.front());
}

void ToolSocketServer::adopt(Fd fd, ConnectionId id) {
    Connection* connection = store_.adopt(id);
    if (!connection) connection = &store_.connect({0, true}, id);  // deposited, not journaled
    if (durable_.keeper)
        durable_.keeper->deposit(connection->id(), KeptKind::ToolClient, {fd.get()});
    Client& client = add_client(std::move(fd), *connection);
    client.check_replayed_ = true;
}

ToolSocketServer::Client& ToolSocketServer::add_client(Fd fd, Connection& connection) {
    Client& client = clients_.emplace_back(*this, std::move(fd), connection);
    try {
        router_.attach(client.connection_, client);
        // Edge-triggered: a partial request stays in the socket (so that a restarted
        // store finds it whole there), and level-triggered EPOLLIN would then spin.
        auto token = loop_.add(client.fd_.get(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                               [this, &client](std::uint32_t events) { serve(client, events); });
        if (!token) throw std::runtime_error(token.error().message);
        client.token = *token;
    } catch (...) {  // UnixListener logs it
        close_client(client);
        throw;
    }
    return client;
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
    ConnectionId id = client.connection_.id();
    store_.disconnect(client.connection_);
    if (durable_.journal) durable_.journal->commit();  // closed before it is withdrawn
    if (durable_.keeper) durable_.keeper->withdraw(id);
    clients_.remove_if([&](const Client& c) { return &c == &client; });
}

}  // namespace domus::store
