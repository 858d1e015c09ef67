// DomainSocketServer: the domain socket (<run dir>/xenstored/domains, SOCK_SEQPACKET)
// on which monitors attach their guests' xenstore rings (domain_attach.hpp). Each
// attached domain is INTRODUCEd and served by a DomainRingTransport until its
// monitor's connection closes, which RELEASEs it.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <list>
#include <map>
#include <memory>
#include <string>

#include "base/fd.hpp"
#include "base/result.hpp"
#include "store/domain_attach.hpp"
#include "store/domain_ring_transport.hpp"
#include "store/event_loop.hpp"
#include "store/event_router.hpp"
#include "store/keeper_link.hpp"
#include "store/state_journal.hpp"
#include "store/unix_listener.hpp"

namespace domus::store {

class DomainSocketServer {
public:
    // Binds `path` (a stale file there is removed first) with mode 0600; or accepts
    // on `listening` (from the fd keeper after a restart).
    static Result<std::unique_ptr<DomainSocketServer>> listen(EventLoop& loop, Store& store,
                                                              EventRouter& router, std::string path,
                                                              Durable durable = {},
                                                              Fd listening = Fd());
    ~DomainSocketServer();

    // From the router: a tool RELEASEd a domain we serve, so stop serving it (its
    // monitor sees the domain socket close).
    void on_domain_change(const DomainChange& change);

    std::size_t attached() const noexcept { return domains_.size(); }
    int listening_fd() const noexcept { return listener_->fd(); }

    // After a restart: a domain the fd keeper handed back (monitor connection, memfd,
    // two eventfds) as store connection `id`. Serves the ring again without a new
    // INTRODUCE and finishes its last journaled batch. False: refused (fds closed, so
    // the monitor sees its connection close, as when a store dies without a keeper).
    bool restore(ConnectionId id, const DomainAttach& request, Fd (&fds)[4]);
    // After the restores: RELEASEs every domain in the restored table that no monitor
    // is attached for any more.
    void release_unattached();

private:
    struct Pending {  // a monitor connected, its DomainAttach not yet read
        Fd socket;
        EventLoop::Token token = 0;
    };
    struct Attached {
        DomainAttach request;
        Fd memory;  // the guest memfd, kept for the fd keeper
        Fd socket;  // the monitor's connection, once the reply is sent
        EventLoop::Token socket_token = 0;
        EventLoop::Token notify_token = 0;
        EventLoop::Token retry_token = 0;
        std::unique_ptr<DomainRingTransport> ring;
    };

    DomainSocketServer(EventLoop& loop, Store& store, EventRouter& router, Durable durable);
    // Checks the request and its fds (memfd, eventfds) and maps the ring: 0, or a
    // negative errno.
    int map_ring(const DomainAttach& request, Fd (&fds)[3], Mapping& ring);
    void deposit(DomainId domid) noexcept;
    // Serves `domain`'s ring from the loop: its guest's kicks and its retry timer.
    bool watch_ring(Attached& domain);
    void add_monitor(Fd socket);
    // Reads the monitor's DomainAttach and answers it. Whatever goes wrong, even an
    // exception, costs only this monitor its connection (and its domain).
    void on_handshake(Pending& pending) noexcept;
    void drop_pending(Pending& pending) noexcept;
    // Validates, maps the ring, starts serving it and INTRODUCEs the domain. 0 on
    // success (the domain is in domains_), else a negative errno for the reply.
    int attach(const DomainAttach& request, Fd (&fds)[3]);
    // After the reply: the monitor's connection closing releases the domain.
    bool watch_monitor(DomainId domid, Fd socket);
    void on_monitor_event(DomainId domid) noexcept;
    // Stops serving `domid`; with `tell_store`, also RELEASEs it (fires @releaseDomain).
    void detach(DomainId domid, bool tell_store) noexcept;
    // A privileged request whose payload is `fields` in decimal, each NUL-terminated.
    void control(std::uint32_t type, std::initializer_list<std::uint64_t> fields) noexcept;

    EventLoop& loop_;
    Store& store_;
    EventRouter& router_;
    Durable durable_;
    Connection& control_;  // privileged: INTRODUCE and RELEASE on behalf of monitors
    std::list<Pending> pending_;
    std::map<DomainId, Attached> domains_;
    std::unique_ptr<UnixListener> listener_;
};

}  // namespace domus::store
