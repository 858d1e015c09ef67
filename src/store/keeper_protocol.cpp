// The fd keeper protocol: one SOCK_SEQPACKET message per deposit, fds by SCM_RIGHTS.
#include "store/keeper_protocol.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "base/unix_socket.hpp"

namespace domus::store {

std::size_t kept_fd_count(KeptKind kind) noexcept {
    return kind == KeptKind::Domain ? 4 : 1;
}

Result<void> send_keeper(int socket, const KeeperMessage& message, const std::vector<int>& fds) {
    if (fds.size() > 4) return make_error("keeper: too many fds");
    auto sent =
        send_with_fds(socket, {reinterpret_cast<const char*>(&message), sizeof(message)}, fds);
    if (!sent) return make_error("keeper send: {}", sent.error().message);
    if (*sent != sizeof(message)) return make_error("keeper send: cut short");
    return {};
}

Result<bool> receive_keeper(int socket, KeeperMessage& message, std::vector<Fd>& fds) {
    fds.clear();
    fds.reserve(8);
    char data[sizeof(KeeperMessage) + 1];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
    iovec iov{data, sizeof(data)};
    msghdr header{};
    header.msg_iov = &iov;
    header.msg_iovlen = 1;
    header.msg_control = control;
    header.msg_controllen = sizeof(control);
    ssize_t n;
    do {
        n = ::recvmsg(socket, &header, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return errno_error("keeper receive");
    take_passed_fds(header, fds);
    if (n == 0) return false;
    if (std::size_t(n) != sizeof(message) || (header.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
        return make_error("keeper: malformed message");
    std::memcpy(&message, data, sizeof(message));
    if (message.magic != kKeeperMagic) return make_error("keeper: bad magic");
    bool carries = message.op == KeeperOp::Deposit || message.op == KeeperOp::Restore;
    std::size_t expected = carries ? kept_fd_count(message.kind) : 0;
    if (fds.size() != expected)
        return make_error("keeper: {} fds, expected {}", fds.size(), expected);
    return true;
}

}  // namespace domus::store
