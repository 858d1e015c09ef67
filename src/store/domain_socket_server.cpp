// DomainSocketServer: accepts monitors, validates their DomainAttach, maps the ring
// and serves it; releases the domain when the monitor's connection closes.
#include "store/domain_socket_server.hpp"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "base/log.hpp"
#include "store/unix_listener.hpp"

namespace domus::store {
namespace {

constexpr std::uint64_t kPageSize = 4096;
constexpr std::size_t kMaxFds = 8;  // room to notice a sender passing too many

bool is_eventfd(int fd) {
    char target[64];
    ssize_t n = ::readlink(fmt::format("/proc/self/fd/{}", fd).c_str(), target, sizeof(target));
    return n > 0 && std::string_view(target, size_t(n)) == "anon_inode:[eventfd]";
}

// recvmsg of one DomainAttach; every fd received is owned by `fds` at once.
ssize_t receive_attach(int socket, DomainAttach& request, std::vector<Fd>& fds, bool& truncated) {
    char data[sizeof(DomainAttach) + 1];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
    iovec iov{data, sizeof(data)};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    ssize_t n = ::recvmsg(socket, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) return -errno;
    for (cmsghdr* c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            fds.emplace_back(fd);
        }
    }
    truncated = (message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
    if (size_t(n) == sizeof(DomainAttach)) std::memcpy(&request, data, sizeof(request));
    return n;
}

}  // namespace

Result<std::unique_ptr<DomainSocketServer>> DomainSocketServer::listen(EventLoop& loop,
                                                                       Store& store,
                                                                       EventRouter& router,
                                                                       std::string path) {
    DOMUS_TRY(fd, listen_unix(path, SOCK_SEQPACKET));
    std::unique_ptr<DomainSocketServer> server(
        new DomainSocketServer(loop, store, router, std::move(path), std::move(fd)));
    DOMUS_TRY(token, loop.add(server->listener_.get(), EPOLLIN,
                              [s = server.get()](std::uint32_t) { s->accept_monitors(); }));
    server->listener_token_ = token;
    return server;
}

DomainSocketServer::DomainSocketServer(EventLoop& loop, Store& store, EventRouter& router,
                                       std::string path, Fd fd)
    : loop_(loop),
      store_(store),
      router_(router),
      path_(std::move(path)),
      listener_(std::move(fd)),
      control_(store.connect({0, true})) {}

DomainSocketServer::~DomainSocketServer() {
    while (!domains_.empty())
        detach(domains_.begin()->first, true);
    for (Pending& pending : pending_)
        loop_.remove(pending.token);
    loop_.remove(listener_token_);
    store_.disconnect(control_);
    ::unlink(path_.c_str());
}

void DomainSocketServer::accept_monitors() {
    while (true) {
        Fd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                DOMUS_LOG_WARN("xenstored", "accept on domain socket: {}", std::strerror(errno));
            return;
        }
        Pending& pending = pending_.emplace_back(Pending{std::move(fd), 0});
        auto token = loop_.add(pending.socket.get(), EPOLLIN | EPOLLRDHUP,
                               [this, &pending](std::uint32_t) { on_handshake(pending); });
        if (!token) {
            DOMUS_LOG_WARN("xenstored", "{}", token.error().message);
            pending_.pop_back();
            continue;
        }
        pending.token = *token;
    }
}

void DomainSocketServer::on_handshake(Pending& pending) {
    DomainAttach request;
    std::vector<Fd> fds;
    bool truncated = false;
    ssize_t n = receive_attach(pending.socket.get(), request, fds, truncated);
    if (n == -EAGAIN || n == -EINTR) return;
    Fd socket = std::move(pending.socket);
    loop_.remove(pending.token);
    pending_.remove_if([&](const Pending& p) { return &p == &pending; });  // `pending` is gone
    if (n <= 0) return;  // the monitor left (or failed) before attaching

    int status = 0;
    if (size_t(n) != sizeof(DomainAttach) || truncated || request.magic != kDomainAttachMagic)
        status = -EINVAL;
    else if (request.version != kDomainAttachVersion)
        status = -EPROTONOSUPPORT;
    else if (fds.size() != 3)
        status = -EBADF;
    else {
        Fd three[3] = {std::move(fds[0]), std::move(fds[1]), std::move(fds[2])};
        status = attach(request, three);
    }
    DomainAttachReply reply{status};
    bool sent = ::send(socket.get(), &reply, sizeof(reply), MSG_DONTWAIT | MSG_NOSIGNAL) ==
                ssize_t(sizeof(reply));
    if (status != 0) {
        DOMUS_LOG_WARN("xenstored", "domain attach refused (domid {}): {}", request.domid,
                       std::strerror(-status));
    } else if (!sent || !watch_monitor(DomainId(request.domid), std::move(socket))) {
        DOMUS_LOG_WARN("xenstored", "dom{}: monitor gone during attach", request.domid);
        detach(DomainId(request.domid), true);
    }
    router_.route();
}

int DomainSocketServer::attach(const DomainAttach& request, Fd (&fds)[3]) {
    if (request.domid == 0 || request.domid >= DOMID_FIRST_RESERVED) return -EINVAL;
    auto domid = DomainId(request.domid);
    if (domains_.contains(domid)) return -EEXIST;
    if (request.ring_offset % kPageSize != 0 || request.ring_offset > UINT64_MAX - kPageSize)
        return -EINVAL;
    struct stat memory;
    if (::fstat(fds[0].get(), &memory) != 0) return -errno;
    // Mapping past the end of the file would succeed and then fault on access.
    if (!S_ISREG(memory.st_mode) || std::uint64_t(memory.st_size) < request.ring_offset + kPageSize)
        return -EINVAL;
    if (!is_eventfd(fds[1].get()) || !is_eventfd(fds[2].get())) return -EINVAL;
    void* page = ::mmap(nullptr, kPageSize, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0].get(),
                        off_t(request.ring_offset));
    if (page == MAP_FAILED) return -errno;
    Mapping ring(page, kPageSize);

    Attached& domain = domains_[domid];
    domain.ring = std::make_unique<DomainRingTransport>(store_, router_, domid, std::move(ring),
                                                        std::move(fds[1]), std::move(fds[2]));
    DomainRingTransport* transport = domain.ring.get();
    auto notify = loop_.add(transport->guest_notify_fd(), EPOLLIN,
                            [transport](std::uint32_t) { transport->on_guest_notify(); });
    if (!notify) {
        domains_.erase(domid);
        return -ENOMEM;
    }
    domain.notify_token = *notify;
    control(XS_INTRODUCE, fmt::format("{}{}{}{}{}{}", request.domid, '\0', request.ring_gfn, '\0',
                                      request.port, '\0'));
    DOMUS_LOG_INFO("xenstored", "dom{}: ring attached (gfn {:#x}, port {})", domid,
                   request.ring_gfn, request.port);
    return 0;
}

bool DomainSocketServer::watch_monitor(DomainId domid, Fd socket) {
    Attached& domain = domains_.at(domid);
    auto token = loop_.add(socket.get(), EPOLLIN | EPOLLRDHUP, [this, domid](std::uint32_t) {
        auto it = domains_.find(domid);
        if (it == domains_.end()) return;
        char byte;
        ssize_t n = ::recv(it->second.socket.get(), &byte, 1, MSG_DONTWAIT);
        if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) return;  // ignore extras
        DOMUS_LOG_INFO("xenstored", "dom{}: monitor closed its connection; released", domid);
        detach(domid, true);
        router_.route();
    });
    if (!token) return false;
    domain.socket = std::move(socket);
    domain.socket_token = *token;
    return true;
}

void DomainSocketServer::detach(DomainId domid, bool tell_store) {
    auto it = domains_.find(domid);
    if (it == domains_.end()) return;
    loop_.remove(it->second.notify_token);
    loop_.remove(it->second.socket_token);
    domains_.erase(it);  // the transport drops its connection, watches, transactions
    // Our own RELEASE comes back through on_domain_change, and finds nothing to do.
    if (tell_store) control(XS_RELEASE, fmt::format("{}{}", domid, '\0'));
}

void DomainSocketServer::on_domain_change(const DomainChange& change) {
    if (change.kind != DomainChange::Kind::Released) return;
    if (!domains_.contains(change.domain.domid)) return;
    DOMUS_LOG_INFO("xenstored", "dom{}: released by a tool; no longer served", change.domain.domid);
    detach(change.domain.domid, false);
}

void DomainSocketServer::control(std::uint32_t type, std::string payload) {
    Message reply = store_.handle(control_, Message{type, 0, 0, std::move(payload)});
    if (reply.type == XS_ERROR)
        DOMUS_LOG_WARN("xenstored", "internal request {} failed: {}", type,
                       log::escape(reply.payload));
}

}  // namespace domus::store
