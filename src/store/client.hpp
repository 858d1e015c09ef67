// Client: a privileged (Domain 0) connection to the store daemon's tool socket, for
// the toolstack and the monitors' backends. Requests are synchronous (one in flight,
// serialised by a mutex); watch events that arrive meanwhile are queued and handed out
// by next_event(), so a backend can poll fd() together with its other fds.
#pragma once

#include <cstdint>
#include <deque>
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

class Client {
public:
    static Result<Client> connect(const std::string& socket_path);

    Result<std::string> read(std::string_view path);
    Result<void> write(std::string_view path, std::string_view value);
    // The names of path's children (XS_DIRECTORY).
    Result<std::vector<std::string>> directory(std::string_view path);
    Result<void> mkdir(std::string_view path);
    Result<void> remove(std::string_view path);  // XS_RM; a missing node is not an error
    // perms in Xen's string form, e.g. {"n0", "r7"}.
    Result<void> set_perms(std::string_view path, const std::vector<std::string>& perms);

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
    Result<std::string> request(std::uint32_t type, std::string payload);
    // Reads one whole message; watch events go to events_, the rest is returned.
    Result<std::optional<std::pair<std::uint32_t, std::string>>> read_message(
        std::uint32_t* req_id);

    Fd fd_;
    std::deque<WatchEvent> events_;
    std::mutex mutex_;
    std::uint32_t next_id_ = 1;
};

}  // namespace domus::store
