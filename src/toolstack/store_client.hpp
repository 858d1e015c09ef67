// StoreClient: the toolstack's privileged connection to the store daemon's tool
// socket, speaking the xenstore wire protocol synchronously (one request in flight).
// Thread-safe: a mutex serialises requests.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/fd.hpp"
#include "base/result.hpp"

namespace domus::toolstack {

class StoreClient {
public:
    static Result<StoreClient> connect(const std::string& socket_path);

    Result<std::string> read(std::string_view path);
    Result<void> write(std::string_view path, std::string_view value);
    Result<void> mkdir(std::string_view path);
    Result<void> remove(std::string_view path);  // XS_RM; a missing node is not an error
    // perms in Xen's string form, e.g. {"n0", "r7"}.
    Result<void> set_perms(std::string_view path, const std::vector<std::string>& perms);

    StoreClient(StoreClient&& other) noexcept : fd_(std::move(other.fd_)), next_id_(other.next_id_) {}
    StoreClient& operator=(StoreClient&& other) noexcept {
        fd_ = std::move(other.fd_);
        next_id_ = other.next_id_;
        return *this;
    }

private:
    explicit StoreClient(Fd fd) : fd_(std::move(fd)) {}
    // Sends one request and returns the reply payload; an XS_ERROR reply becomes an
    // Error whose message is the error name (e.g. "ENOENT").
    Result<std::string> request(std::uint32_t type, std::string payload);

    Fd fd_;
    std::mutex mutex_;
    std::uint32_t next_id_ = 1;
};

}  // namespace domus::toolstack
