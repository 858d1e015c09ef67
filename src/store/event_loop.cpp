// EventLoop: epoll with per-fd handlers, keyed by never-reused tokens.
#include "store/event_loop.hpp"

#include <cerrno>

namespace domus::store {

Result<EventLoop> EventLoop::create() {
    Fd epoll(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll) return errno_error("epoll_create1");
    return EventLoop(std::move(epoll));
}

Result<EventLoop::Token> EventLoop::add(int fd, std::uint32_t events, Handler handler) {
    Token token = next_token_++;
    epoll_event event{};
    event.events = events;
    event.data.u64 = token;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0)
        return errno_error("epoll_ctl add");
    entries_.emplace(token, Entry{fd, std::move(handler)});
    return token;
}

Result<void> EventLoop::modify(Token token, std::uint32_t events) {
    auto it = entries_.find(token);
    if (it == entries_.end()) return make_error("epoll modify: unknown token {}", token);
    epoll_event event{};
    event.events = events;
    event.data.u64 = token;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, it->second.fd, &event) != 0)
        return errno_error("epoll_ctl mod");
    return {};
}

void EventLoop::remove(Token token) noexcept {
    auto it = entries_.find(token);
    if (it == entries_.end()) return;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second.fd, nullptr);
    entries_.erase(it);
}

Result<void> EventLoop::run() {
    constexpr int kBatch = 64;
    epoll_event events[kBatch];
    while (!stopping_) {
        int n = ::epoll_wait(epoll_.get(), events, kBatch, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_error("epoll_wait");
        }
        for (int i = 0; i < n && !stopping_; ++i) {
            // A copy: epoll_event is packed, so its u64 is misaligned for a reference.
            const Token token = events[i].data.u64;
            auto it = entries_.find(token);
            if (it == entries_.end()) continue;  // removed by an earlier handler
            // Copy: the handler may remove its own entry while it runs.
            Handler handler = it->second.handler;
            handler(events[i].events);
        }
    }
    return {};
}

}  // namespace domus::store
