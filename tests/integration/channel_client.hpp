// A test's client connection to a PV channel's UNIX socket (channel and migration tests).
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>

namespace domus::test {

// One client connection to a channel socket.
class ChannelClient {
public:
    explicit ChannelClient(const std::string& path) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    ~ChannelClient() { close(); }
    bool connected() const { return fd_ >= 0; }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    bool send(const std::string& text) {
        return ::send(fd_, text.data(), text.size(), MSG_NOSIGNAL) == ssize_t(text.size());
    }
    // Reads until `text` has arrived (returns everything read) or the limit passes.
    std::string read_until(const std::string& text,
                           std::chrono::milliseconds limit = std::chrono::seconds(20)) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (received_.find(text) == std::string::npos && !eof_) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) break;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, int(left.count())) <= 0) break;
            char buffer[4096];
            ssize_t n = ::read(fd_, buffer, sizeof(buffer));
            if (n <= 0) {
                eof_ = true;
                break;
            }
            received_.append(buffer, std::size_t(n));
        }
        return received_;
    }
    const std::string& received() const { return received_; }
    // True when the monitor closes the connection within the limit.
    bool sees_end(std::chrono::milliseconds limit = std::chrono::seconds(20)) {
        read_until(std::string(1, '\0'), limit);  // a NUL never comes: read to the end
        return eof_;
    }

private:
    int fd_ = -1;
    std::string received_;
    bool eof_ = false;
};

}  // namespace domus::test
