// DomainSocketServer: accepts monitors, validates their DomainAttach, maps the ring
// and serves it; releases the domain when the monitor's connection closes.
#include "store/domain_socket_server.hpp"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "base/log.hpp"
#include "base/unix_socket.hpp"

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
    take_passed_fds(message, fds);
    truncated = (message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
    if (size_t(n) == sizeof(DomainAttach)) std::memcpy(&request, data, sizeof(request));
    return n;
}

}  // namespace

Result<std::unique_ptr<DomainSocketServer>> DomainSocketServer::listen(
    EventLoop& loop, Store& store, EventRouter& router, std::string path, Durable durable,
    Fd listening) {
    std::unique_ptr<DomainSocketServer> server(
        new DomainSocketServer(loop, store, router, durable));
    auto accept = [s = server.get()](Fd fd) { s->add_monitor(std::move(fd)); };
    if (listening) {
        DOMUS_TRY(listener,
                  UnixListener::adopt(loop, std::move(path), std::move(listening), accept));
        server->listener_ = std::move(listener);
    } else {
        DOMUS_TRY(listener, UnixListener::listen(loop, std::move(path), SOCK_SEQPACKET, accept));
        server->listener_ = std::move(listener);
    }
    return server;
}

DomainSocketServer::DomainSocketServer(EventLoop& loop, Store& store, EventRouter& router,
                                       Durable durable)
    : loop_(loop),
      store_(store),
      router_(router),
      durable_(durable),
      control_(store.connect({0, true})) {}

DomainSocketServer::~DomainSocketServer() {
    while (!domains_.empty())
        detach(domains_.begin()->first, true);
    while (!pending_.empty())
        drop_pending(pending_.front());
    store_.disconnect(control_);
}

void DomainSocketServer::add_monitor(Fd socket) {
    Pending& pending = pending_.emplace_back(Pending{std::move(socket), 0});
    try {
        auto token = loop_.add(pending.socket.get(), EPOLLIN | EPOLLRDHUP,
                               [this, &pending](std::uint32_t) { on_handshake(pending); });
        if (!token) throw std::runtime_error(token.error().message);
        pending.token = *token;
    } catch (...) {  // UnixListener logs it
        drop_pending(pending);
        throw;
    }
}

void DomainSocketServer::drop_pending(Pending& pending) noexcept {
    loop_.remove(pending.token);
    pending_.remove_if([&](const Pending& p) { return &p == &pending; });
}

void DomainSocketServer::on_handshake(Pending& pending) noexcept {
    DomainAttach request;
    std::vector<Fd> fds;
    bool truncated = false;
    ssize_t n = -ENOMEM;
    try {
        fds.reserve(kMaxFds);  // so that receiving never allocates while fds are unowned
        n = receive_attach(pending.socket.get(), request, fds, truncated);
    } catch (...) {  // the reserve: out of memory, refuse this monitor
    }
    if (n == -EAGAIN || n == -EINTR) return;
    Fd socket = std::move(pending.socket);
    drop_pending(pending);  // `pending` is gone
    if (n <= 0) return;     // the monitor left (or failed) before attaching

    int status = 0;
    if (size_t(n) != sizeof(DomainAttach) || truncated || request.magic != kDomainAttachMagic)
        status = -EINVAL;
    else if (request.version != kDomainAttachVersion)
        status = -EPROTONOSUPPORT;
    else if (fds.size() != 3)
        status = -EBADF;
    auto domid = DomainId(request.domid);
    bool claimed = status == 0 && !domains_.contains(domid);  // what to undo on an exception
    try {
        if (status == 0) {
            Fd three[3] = {std::move(fds[0]), std::move(fds[1]), std::move(fds[2])};
            status = attach(request, three);
        }
        DomainAttachReply reply{status};
        bool sent = ::send(socket.get(), &reply, sizeof(reply), MSG_DONTWAIT | MSG_NOSIGNAL) ==
                    ssize_t(sizeof(reply));
        if (status != 0) {
            DOMUS_LOG_WARN("xenstored", "domain attach refused (domid {}): {}", request.domid,
                           std::strerror(-status));
        } else if (!sent || !watch_monitor(domid, std::move(socket))) {
            DOMUS_LOG_WARN("xenstored", "dom{}: monitor gone during attach", request.domid);
            detach(domid, true);
        } else {
            deposit(domid);
        }
        if (durable_.journal) durable_.journal->commit();
        router_.route();
    } catch (...) {
        if (claimed) detach(domid, true);  // the monitor sees its connection close
    }
}

int DomainSocketServer::map_ring(const DomainAttach& request, Fd (&fds)[3], Mapping& ring) {
    if (request.domid == 0 || request.domid >= DOMID_FIRST_RESERVED) return -EINVAL;
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
    ring = Mapping(page, kPageSize);
    return 0;
}

int DomainSocketServer::attach(const DomainAttach& request, Fd (&fds)[3]) {
    auto domid = DomainId(request.domid);
    if (domains_.contains(domid)) return -EEXIST;
    Mapping ring;
    if (int status = map_ring(request, fds, ring); status != 0) return status;

    Attached& domain = domains_[domid];
    domain.request = request;
    domain.memory = std::move(fds[0]);
    domain.ring = std::make_unique<DomainRingTransport>(store_, router_, domid, std::move(ring),
                                                        std::move(fds[1]), std::move(fds[2]),
                                                        durable_.journal);
    if (!watch_ring(domain)) {
        loop_.remove(domain.notify_token);
        domains_.erase(domid);
        return -ENOMEM;
    }
    control(XS_INTRODUCE, {request.domid, request.ring_gfn, request.port});
    DOMUS_LOG_INFO("xenstored", "dom{}: ring attached (gfn {:#x}, port {})", domid,
                   request.ring_gfn, request.port);
    return 0;
}

bool DomainSocketServer::restore(ConnectionId id, const DomainAttach& request, Fd (&fds)[4]) {
    auto domid = DomainId(request.domid);
    Fd three[3] = {std::move(fds[1]), std::move(fds[2]), std::move(fds[3])};
    Mapping ring;
    if (domains_.contains(domid) || map_ring(request, three, ring) != 0) {
        DOMUS_LOG_WARN("xenstored", "dom{}: kept ring not restorable; released", domid);
        return false;
    }
    Connection* connection = store_.adopt(id);
    if (!connection) connection = &store_.connect({domid, false}, id);
    Attached& domain = domains_[domid];
    domain.request = request;
    domain.memory = std::move(three[0]);
    domain.ring = std::make_unique<DomainRingTransport>(store_, router_, domid, std::move(ring),
                                                        std::move(three[1]), std::move(three[2]),
                                                        durable_.journal, connection);
    DomainRingTransport* transport = domain.ring.get();
    if (!watch_ring(domain) || !watch_monitor(domid, std::move(fds[0]))) {
        detach(domid, true);
        return false;
    }
    if (!store_.domain(domid))
        control(XS_INTRODUCE, {request.domid, request.ring_gfn, request.port});
    transport->restore();
    deposit(domid);
    // The guest may have kicked while no store listened: look at its ring now.
    transport->on_guest_notify();
    DOMUS_LOG_INFO("xenstored", "dom{}: ring restored", domid);
    return true;
}

void DomainSocketServer::release_unattached() {
    for (DomainId domid : store_.domain_ids())
        if (!domains_.contains(domid)) {
            DOMUS_LOG_INFO("xenstored", "dom{}: no monitor after the restart; released", domid);
            control(XS_RELEASE, {domid});
        }
}

void DomainSocketServer::deposit(DomainId domid) noexcept {
    if (!durable_.keeper) return;
    auto it = domains_.find(domid);
    if (it == domains_.end()) return;
    Attached& domain = it->second;
    try {
        durable_.keeper->deposit(domain.ring->connection_id(), KeptKind::Domain,
                                 {domain.socket.get(), domain.memory.get(),
                                  domain.ring->guest_notify_fd(), domain.ring->store_notify_fd()},
                                 domain.request);
    } catch (...) {
    }
}

bool DomainSocketServer::watch_monitor(DomainId domid, Fd socket) {
    Attached& domain = domains_.at(domid);
    auto token = loop_.add(socket.get(), EPOLLIN | EPOLLRDHUP,
                           [this, domid](std::uint32_t) { on_monitor_event(domid); });
    if (!token) return false;
    domain.socket = std::move(socket);
    domain.socket_token = *token;
    return true;
}

void DomainSocketServer::on_monitor_event(DomainId domid) noexcept {
    auto it = domains_.find(domid);
    if (it == domains_.end()) return;
    char byte;
    ssize_t n = ::recv(it->second.socket.get(), &byte, 1, MSG_DONTWAIT);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) return;  // ignore extras
    detach(domid, true);
    try {
        DOMUS_LOG_INFO("xenstored", "dom{}: monitor closed its connection; released", domid);
        router_.route();
    } catch (...) {  // out of memory: the events wait for the next route()
    }
}

bool DomainSocketServer::watch_ring(Attached& domain) {
    DomainRingTransport* transport = domain.ring.get();
    auto notify = loop_.add(transport->guest_notify_fd(), EPOLLIN,
                            [transport](std::uint32_t) { transport->on_guest_notify(); });
    if (!notify) return false;
    domain.notify_token = *notify;
    auto retry = loop_.add(transport->retry_fd(), EPOLLIN,
                           [transport](std::uint32_t) { transport->on_retry(); });
    if (!retry) return false;
    domain.retry_token = *retry;
    return true;
}

void DomainSocketServer::detach(DomainId domid, bool tell_store) noexcept {
    auto it = domains_.find(domid);
    if (it == domains_.end()) return;
    loop_.remove(it->second.notify_token);
    loop_.remove(it->second.retry_token);
    loop_.remove(it->second.socket_token);
    ConnectionId id = it->second.ring->connection_id();
    domains_.erase(it);  // the transport drops its connection, watches, transactions
    // Our own RELEASE comes back through on_domain_change, and finds nothing to do.
    if (tell_store) control(XS_RELEASE, {domid});
    if (durable_.journal) durable_.journal->commit();  // closed before it is withdrawn
    if (durable_.keeper) durable_.keeper->withdraw(id);
}

void DomainSocketServer::on_domain_change(const DomainChange& change) {
    if (change.kind != DomainChange::Kind::Released) return;
    if (!domains_.contains(change.domain.domid)) return;
    DOMUS_LOG_INFO("xenstored", "dom{}: released by a tool; no longer served", change.domain.domid);
    detach(change.domain.domid, false);
}

void DomainSocketServer::control(std::uint32_t type,
                                 std::initializer_list<std::uint64_t> fields) noexcept {
    try {
        std::string payload;
        for (std::uint64_t field : fields)
            payload += fmt::format("{}{}", field, '\0');
        Message reply = store_.handle(control_, Message{type, 0, 0, std::move(payload)});
        if (reply.type == XS_ERROR)
            DOMUS_LOG_WARN("xenstored", "internal request {} failed: {}", type,
                           log::escape(reply.payload));
    } catch (...) {  // out of memory, so not even a log line: the request was not made
    }
}

}  // namespace domus::store
