// Client: a privileged (Domain 0) connection to the store daemon's tool socket, for
// the toolstack and the monitors' backends. Requests are synchronous (one in flight,
// serialised by a mutex); watch events that arrive meanwhile are queued and handed out
// by next_event(), so a backend can poll fd() together with its other fds.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/fd.hpp"
#include "base/result.hpp"

namespace domus::store {

struct WatchEvent {
    std::string path;
    std::string token;
};

class ClientTransaction;

// Requests sent together and answered together (Client::send): one round trip to the
// store for many changes, as a domain's creation makes. Not a transaction: each is
// applied on its own, in order, and a failing one does not stop the rest.
class Batch {
public:
    void write(std::string_view path, std::string_view value);
    void mkdir(std::string_view path);
    // A missing node is not an error (as Client::remove).
    void remove(std::string_view path);
    void set_perms(std::string_view path, const std::vector<std::string>& perms);
    bool empty() const noexcept { return requests_.empty(); }

private:
    friend class Client;
    struct Request {
        std::uint32_t type;
        std::string payload;
    };
    std::vector<Request> requests_;
};

class Client {
public:
    static Result<Client> connect(const std::string& socket_path);

    // `tx`: a transaction of transact(), or 0 for none.
    Result<std::string> read(std::string_view path, std::uint32_t tx = 0);
    Result<void> write(std::string_view path, std::string_view value, std::uint32_t tx = 0);
    // The names of path's children (XS_DIRECTORY).
    Result<std::vector<std::string>> directory(std::string_view path, std::uint32_t tx = 0);
    Result<void> mkdir(std::string_view path, std::uint32_t tx = 0);
    // XS_RM; a missing node is not an error.
    Result<void> remove(std::string_view path, std::uint32_t tx = 0);
    // perms in Xen's string form, e.g. {"n0", "r7"}.
    Result<void> set_perms(std::string_view path, const std::vector<std::string>& perms,
                           std::uint32_t tx = 0);
    // Sends every request of `batch` at once, then reads their replies: all of them are
    // applied, in order; the first failure is returned.
    Result<void> send(const Batch& batch, std::uint32_t tx = 0);

    // Runs body(transaction) and commits it: others see all of it or nothing. A commit
    // that lost to a concurrent change (EAGAIN) runs the whole body again, up to
    // `attempts` times; a failing body aborts the transaction.
    Result<void> transact(const std::function<Result<void>(ClientTransaction&)>& body,
                          int attempts = 16);

    Result<void> watch(std::string_view path, std::string_view token);
    Result<void> unwatch(std::string_view path, std::string_view token);
    // A queued watch event, or (when none is queued and `block`) the next one read from
    // the socket; nothing when the socket has no complete event and !block.
    Result<std::optional<WatchEvent>> next_event(bool block);
    // Readable when a watch event (or a stray reply) may be waiting.
    int fd() const noexcept { return fd_.get(); }

    Client(Client&& other) noexcept : fd_(std::move(other.fd_)), next_id_(other.next_id_) {}
    Client& operator=(Client&& other) noexcept {
        fd_ = std::move(other.fd_);
        next_id_ = other.next_id_;
        return *this;
    }

private:
    explicit Client(Fd fd) : fd_(std::move(fd)) {}
    // Sends one request and returns the reply payload; an XS_ERROR reply becomes an
    // Error whose message is the error name (e.g. "ENOENT").
    Result<std::string> request(std::uint32_t type, std::string payload, std::uint32_t tx = 0);
    // Reads one whole message; watch events go to events_, the rest is returned.
    Result<std::optional<std::pair<std::uint32_t, std::string>>> read_message(
        std::uint32_t* req_id);

    Fd fd_;
    std::deque<WatchEvent> events_;
    std::mutex mutex_;
    std::uint32_t next_id_ = 1;
};

// The calls of one transaction of Client::transact.
class ClientTransaction {
public:
    ClientTransaction(Client& client, std::uint32_t id) : client_(client), id_(id) {}
    Result<std::string> read(std::string_view path) { return client_.read(path, id_); }
    Result<void> write(std::string_view path, std::string_view value) {
        return client_.write(path, value, id_);
    }
    Result<void> mkdir(std::string_view path) { return client_.mkdir(path, id_); }
    Result<void> remove(std::string_view path) { return client_.remove(path, id_); }
    Result<void> set_perms(std::string_view path, const std::vector<std::string>& perms) {
        return client_.set_perms(path, perms, id_);
    }

private:
    Client& client_;
    std::uint32_t id_;
};

}  // namespace domus::store
