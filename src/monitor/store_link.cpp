// StoreLink: the attach handshake and the store -> guest notification thread.
#include "monitor/store_link.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "base/unix_socket.hpp"
#include "monitor/event_channels.hpp"
#include "monitor/guest_memory.hpp"
#include "monitor/layout.hpp"
#include "store/domain_attach.hpp"

namespace domus::monitor {

Result<std::unique_ptr<StoreLink>> StoreLink::attach(const std::string& run_dir,
                                                     std::uint16_t domid, const GuestMemory& memory,
                                                     std::uint64_t ring_gpa,
                                                     EventChannels& events) {
    std::unique_ptr<StoreLink> link(new StoreLink());
    link->events_ = &events;
    link->guest_notify_ = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    link->store_notify_ = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    link->stop_ = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!link->guest_notify_ || !link->store_notify_ || !link->stop_) return errno_error("eventfd");

    std::string path = run_dir + "/xenstored/" + store::kDomainSocketName;
    auto socket = connect_unix(path, SOCK_SEQPACKET);
    if (!socket)
        return make_error("the store at {} (is domus-xenstored running?): {}", path,
                          socket.error().message);
    link->socket_ = std::move(socket).value();

    link->port_ = events.bind_backend(link->guest_notify_.get());
    if (!link->port_) return make_error("no free event channel for the store");

    store::DomainAttach request;
    request.domid = domid;
    request.port = link->port_;
    request.ring_offset = ring_gpa;
    request.ring_gfn = ring_gpa / kPageSize;
    int fds[3] = {memory.fd(), link->guest_notify_.get(), link->store_notify_.get()};
    auto sent = send_with_fds(link->socket_.get(),
                              {reinterpret_cast<const char*>(&request), sizeof(request)}, fds);
    if (!sent || *sent != sizeof(request))
        return make_error("send the store attach request: {}",
                          sent ? "cut short" : sent.error().message);
    store::DomainAttachReply reply;
    ssize_t n = ::recv(link->socket_.get(), &reply, sizeof(reply), 0);
    if (n != ssize_t(sizeof(reply)))
        return make_error("the store closed the attach connection without a reply");
    if (reply.status != 0)
        return errno_error(fmt::format("the store refused domain {}", domid), -reply.status);
    return link;
}

StoreLink::~StoreLink() {
    if (thread_.joinable()) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(stop_.get(), &one, sizeof(one));
        thread_.join();
    }
}

void StoreLink::start() {
    thread_ = std::thread([this] { thread_main(); });
}

void StoreLink::thread_main() {
    pollfd fds[2] = {{store_notify_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    for (;;) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents) return;
        if (fds[0].revents & POLLIN) {
            std::uint64_t value;
            [[maybe_unused]] auto n = ::read(store_notify_.get(), &value, sizeof(value));
            events_->raise(port_);
        }
    }
}

}  // namespace domus::monitor
