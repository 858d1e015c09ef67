// connect_unix, listen_unix, send_all, send_with_fds, receive_all over AF_UNIX sockets.
#include "base/unix_socket.hpp"

#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace domus {
namespace {

Result<sockaddr_un> address_of(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof(address.sun_path))
        return make_error("socket path too long ({} bytes): {}", path.size(), path);
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    return address;
}

}  // namespace

Result<Fd> connect_unix(const std::string& path, int type) {
    DOMUS_TRY(address, address_of(path));
    Fd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
    if (!fd) return errno_error("socket");
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0)
        return errno_error("connect " + path);
    return fd;
}

Result<Fd> listen_unix(const std::string& path, int type) {
    DOMUS_TRY(address, address_of(path));
    Fd fd(::socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return errno_error("socket");
    ::unlink(path.c_str());
    // umask makes the file 0600 at bind time: no window in which others could connect.
    mode_t old_mask = ::umask(0177);
    int bound = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address));
    ::umask(old_mask);
    if (bound != 0) return errno_error("bind " + path);
    if (::listen(fd.get(), 128) != 0) return errno_error("listen " + path);
    return fd;
}

Result<void> send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return errno_error("send");
        bytes.remove_prefix(std::size_t(n));
    }
    return {};
}

Result<void> remove_stale_socket(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(address.sun_path))
        return make_error("socket path \"{}\" is empty or too long", path);
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return {};
    if (!S_ISSOCK(st.st_mode))
        return make_error("{} exists and is not a socket; not replacing it", path);
    Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0)
        return make_error("{} is in use by another listener", path);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_error("unlink " + path);
    return {};
}

Result<std::size_t> send_with_fds(int fd, std::string_view bytes, std::span<const int> fds) {
    if (fds.size() > kMaxPassedFds)
        return make_error("{} fds to pass, at most {}", fds.size(), kMaxPassedFds);
    iovec io{const_cast<char*>(bytes.data()), bytes.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
    msghdr header{};
    header.msg_iov = &io;
    header.msg_iovlen = 1;
    if (!fds.empty()) {
        header.msg_control = control;
        header.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&header);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    for (;;) {
        ssize_t n = ::sendmsg(fd, &header, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno_error("sendmsg");
        return std::size_t(n);
    }
}

Result<void> receive_all(int fd, void* data, std::size_t length) {
    auto* bytes = static_cast<char*>(data);
    while (length > 0) {
        ssize_t n = ::recv(fd, bytes, length, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) return make_error("connection closed by the peer");
        if (n < 0) return errno_error("recv");
        bytes += n;
        length -= std::size_t(n);
    }
    return {};
}

void take_passed_fds(msghdr& message, std::vector<Fd>& fds) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            fds.emplace_back(fd);
        }
    }
}

Result<Received> receive_with_fds(int fd, std::span<char> buffer, std::size_t max_fds,
                                  std::vector<Fd>& fds) {
    alignas(cmsghdr) char control[CMSG_SPACE(kMaxPassedFds * sizeof(int))];
    for (;;) {
        iovec data{buffer.data(), buffer.size()};
        msghdr message{};
        message.msg_iov = &data;
        message.msg_iovlen = 1;
        message.msg_control = control;
        message.msg_controllen = CMSG_SPACE(std::min(max_fds, kMaxPassedFds) * sizeof(int));
        ssize_t n = ::recvmsg(fd, &message, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno_error("recvmsg");
        take_passed_fds(message, fds);
        return Received{std::size_t(n), (message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0};
    }
}

}  // namespace domus
