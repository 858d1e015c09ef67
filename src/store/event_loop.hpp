// EventLoop: one epoll instance and the callbacks of the fds it watches, run on one
// thread. The store daemon's transports register their sockets and eventfds here.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <unordered_map>

#include "base/fd.hpp"
#include "base/result.hpp"

namespace domus::store {

class EventLoop {
public:
    // Called with the epoll event bits (EPOLLIN, EPOLLOUT, EPOLLHUP, ...).
    using Handler = std::function<void(std::uint32_t events)>;
    using Token = std::uint64_t;

    static Result<EventLoop> create();

    // Watches `fd` (not owned; the caller removes it before closing it). A handler may
    // add or remove any fd, itself included: events of removed fds are not delivered.
    [[nodiscard]] Result<Token> add(int fd, std::uint32_t events, Handler handler);
    [[nodiscard]] Result<void> modify(Token token, std::uint32_t events);
    void remove(Token token) noexcept;

    // Runs until stop() (from a handler) or an epoll error.
    Result<void> run();
    void stop() noexcept { stopping_ = true; }

private:
    explicit EventLoop(Fd epoll) : epoll_(std::move(epoll)) {}

    struct Entry {
        int fd;
        Handler handler;
    };
    Fd epoll_;
    std::unordered_map<Token, Entry> entries_;
    Token next_token_ = 1;  // tokens are never reused, so a stale event finds nothing
    bool stopping_ = false;
};

}  // namespace domus::store
