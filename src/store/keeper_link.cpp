// KeeperLink: deposits, withdrawals and the keeper's replacement.
#include "store/keeper_link.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "base/log.hpp"

namespace domus::store {

void KeeperLink::connect(Fd socket) noexcept {
    drop();
    // Blocking, with a bound: a keeper that stops reading costs us the link, not the loop.
    int flags = ::fcntl(socket.get(), F_GETFL);
    if (flags >= 0) ::fcntl(socket.get(), F_SETFL, flags & ~O_NONBLOCK);
    timeval limit{2, 0};
    ::setsockopt(socket.get(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
    socket_ = std::move(socket);
    auto token = loop_.add(socket_.get(), EPOLLIN | EPOLLRDHUP, [this](std::uint32_t) {
        char byte;
        ssize_t n = ::recv(socket_.get(), &byte, 1, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        DOMUS_LOG_INFO("xenstored", "fd keeper gone");
        drop();  // the keeper has nothing to say after RestoreEnd: data or EOF ends it
    });
    if (!token) {
        socket_.reset();
        return;
    }
    token_ = *token;
    if (!send(KeeperMessage{.op = KeeperOp::Reset}, {})) return;
    for (const auto& [id, kept] : kept_) {
        KeeperMessage message{.op = KeeperOp::Deposit, .id = id, .kind = kept.kind};
        message.attach = kept.attach;
        if (!send(message, kept.fds)) return;
    }
    if (!send(KeeperMessage{.op = KeeperOp::Synced}, {})) return;
    DOMUS_LOG_INFO("xenstored", "fd keeper connected; {} deposits", kept_.size());
}

void KeeperLink::deposit(ConnectionId id, KeptKind kind, std::vector<int> fds,
                         const DomainAttach& attach) noexcept {
    try {
        Kept& kept = kept_[id];
        kept = Kept{kind, std::move(fds), attach};
        KeeperMessage message{.op = KeeperOp::Deposit, .id = id, .kind = kind};
        message.attach = attach;
        if (socket_) send(message, kept.fds);
    } catch (...) {  // out of memory: this one is not kept
    }
}

void KeeperLink::withdraw(ConnectionId id) noexcept {
    if (kept_.erase(id) == 0) return;
    if (socket_) send(KeeperMessage{.op = KeeperOp::Withdraw, .id = id}, {});
}

void KeeperLink::stopping() noexcept {
    if (socket_) send(KeeperMessage{.op = KeeperOp::Stopping}, {});
}

bool KeeperLink::send(const KeeperMessage& message, const std::vector<int>& fds) noexcept {
    if (auto sent = send_keeper(socket_.get(), message, fds); !sent) {
        try {
            DOMUS_LOG_WARN("xenstored", "fd keeper link: {}; dropped", sent.error().message);
        } catch (...) {
        }
        drop();
        return false;
    }
    return true;
}

void KeeperLink::drop() noexcept {
    loop_.remove(token_);
    token_ = 0;
    socket_.reset();
}

}  // namespace domus::store
