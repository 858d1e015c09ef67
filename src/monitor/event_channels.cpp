// Event channels: port table and 2-level delivery (Xen's evtchn_2l semantics).
#include "monitor/event_channels.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <new>

namespace domus::monitor {
namespace {

constexpr std::uint32_t kBitsPerWord = 64;

template <class T>
std::atomic_ref<T> atomic(T& value) {
    return std::atomic_ref<T>(value);
}

bool is_self(domid_t dom, domid_t self) {
    return dom == DOMID_SELF || dom == self;
}

}  // namespace

evtchn_port_t EventChannels::allocate_locked() noexcept {
    for (evtchn_port_t port = 1; port < kNrPorts; ++port) {
        if (ports_[port].state == State::free) {
            ports_[port] = Port{};
            // A reused port starts clean: no stale pending bit from its last life.
            std::uint64_t bit = 1ull << (port % kBitsPerWord);
            atomic(shared_.evtchn_pending[port / kBitsPerWord]).fetch_and(~bit);
            return port;
        }
    }
    return 0;
}

int EventChannels::alloc_unbound(domid_t dom, domid_t remote_dom, evtchn_port_t& port) noexcept {
    if (!is_self(dom, self_)) return -XEN_EPERM;
    if (remote_dom >= DOMID_FIRST_RESERVED && remote_dom != DOMID_SELF) return -XEN_EINVAL;
    std::lock_guard lock(mutex_);
    port = allocate_locked();
    if (!port) return -XEN_ENOSPC;
    ports_[port].state = State::unbound;
    ports_[port].remote_dom = is_self(remote_dom, self_) ? self_ : remote_dom;
    return 0;
}

int EventChannels::bind_interdomain(domid_t remote_dom, evtchn_port_t remote_port,
                                    evtchn_port_t& port) noexcept {
    // Only loopback within the domain exists until a second domain shares this monitor.
    if (!is_self(remote_dom, self_)) return -XEN_ESRCH;
    std::unique_lock lock(mutex_);
    if (remote_port == 0 || remote_port >= kNrPorts) return -XEN_EINVAL;
    Port& remote = ports_[remote_port];
    if (remote.state != State::unbound || remote.remote_dom != self_) return -XEN_EINVAL;
    port = allocate_locked();
    if (!port) return -XEN_ENOSPC;
    ports_[port].state = State::interdomain;
    ports_[port].remote_dom = self_;
    ports_[port].remote_port = remote_port;
    remote.state = State::interdomain;
    remote.remote_port = port;
    std::uint32_t vcpu = ports_[port].vcpu;
    lock.unlock();
    deliver(port, vcpu);  // as Xen: the new port starts pending
    return 0;
}

int EventChannels::bind_virq(std::uint32_t virq, std::uint32_t vcpu, evtchn_port_t& port) noexcept {
    if (virq >= NR_VIRQS) return -XEN_EINVAL;
    if (vcpu >= sink_.nr_vcpus()) return -XEN_ENOENT;
    std::lock_guard lock(mutex_);
    if (virq_ports_[vcpu][virq].load()) return -XEN_EEXIST;
    port = allocate_locked();
    if (!port) return -XEN_ENOSPC;
    ports_[port].state = State::virq;
    ports_[port].virq = virq;
    ports_[port].vcpu = vcpu;
    virq_ports_[vcpu][virq].store(port);
    return 0;
}

int EventChannels::bind_ipi(std::uint32_t vcpu, evtchn_port_t& port) noexcept {
    if (vcpu >= sink_.nr_vcpus()) return -XEN_ENOENT;
    std::lock_guard lock(mutex_);
    port = allocate_locked();
    if (!port) return -XEN_ENOSPC;
    ports_[port].state = State::ipi;
    ports_[port].vcpu = vcpu;
    return 0;
}

int EventChannels::bind_vcpu(evtchn_port_t port, std::uint32_t vcpu) noexcept {
    if (port == 0 || port >= kNrPorts) return -XEN_EINVAL;
    if (vcpu >= sink_.nr_vcpus()) return -XEN_ENOENT;
    std::lock_guard lock(mutex_);
    Port& p = ports_[port];
    switch (p.state) {
        case State::free:
            return -XEN_EINVAL;
        case State::ipi:
            return -XEN_EINVAL;  // fixed to its vCPU
        case State::virq:
            if (p.virq == VIRQ_TIMER || p.virq == VIRQ_DEBUG) return -XEN_EINVAL;  // per-vCPU
            if (vcpu != p.vcpu && virq_ports_[vcpu][p.virq].load()) return -XEN_EEXIST;
            virq_ports_[p.vcpu][p.virq].store(0);
            virq_ports_[vcpu][p.virq].store(port);
            break;
        default:
            break;
    }
    p.vcpu = vcpu;
    return 0;
}

int EventChannels::close(evtchn_port_t port) noexcept {
    if (port == 0 || port >= kNrPorts) return -XEN_EINVAL;
    std::lock_guard lock(mutex_);
    Port& p = ports_[port];
    switch (p.state) {
        case State::free:
            return -XEN_EINVAL;
        case State::backend:
            return -XEN_EPERM;  // owned by the monitor's device
        case State::virq: {
            evtchn_port_t bound = port;  // clear the slot only if it is still ours
            virq_ports_[p.vcpu][p.virq].compare_exchange_strong(bound, 0);
            break;
        }
        case State::interdomain: {
            Port& peer = ports_[p.remote_port];
            if (peer.state == State::interdomain && peer.remote_port == port) {
                peer.state = State::unbound;  // as Xen: the far end may be bound again
                peer.remote_dom = self_;
                peer.remote_port = 0;
            }
            break;
        }
        default:
            break;
    }
    p = Port{};
    return 0;
}

int EventChannels::send(evtchn_port_t port) noexcept {
    if (port == 0 || port >= kNrPorts) return -XEN_EINVAL;
    std::unique_lock lock(mutex_);
    const Port p = ports_[port];  // holds the doorbell open until this send is done
    lock.unlock();
    switch (p.state) {
        case State::ipi:
            deliver(port, p.vcpu);
            return 0;
        case State::interdomain: {
            lock.lock();
            std::uint32_t vcpu = ports_[p.remote_port].vcpu;
            lock.unlock();
            deliver(p.remote_port, vcpu);
            return 0;
        }
        case State::backend:
            sink_.notify_backend(p.doorbell->get());
            return 0;
        case State::unbound:
            return 0;  // nobody listens yet: dropped, as in Xen
        default:
            return -XEN_EINVAL;
    }
}

int EventChannels::unmask(evtchn_port_t port) noexcept {
    if (port == 0 || port >= kNrPorts) return -XEN_EINVAL;
    std::uint32_t vcpu = notify_vcpu(port);
    std::uint32_t word = port / kBitsPerWord;
    std::uint64_t bit = 1ull << (port % kBitsPerWord);
    // The guest may have cleared the mask bit itself already: deliver whenever the
    // port is pending and now unmasked.
    atomic(shared_.evtchn_mask[word]).fetch_and(~bit);
    if (!(atomic(shared_.evtchn_pending[word]).load() & bit)) return 0;
    vcpu_info* info = sink_.vcpu_info_of(vcpu);
    if (!info) return 0;
    if (atomic(info->evtchn_pending_sel).fetch_or(1ull << word) & (1ull << word)) return 0;
    if (!atomic(info->evtchn_upcall_pending).exchange(1)) sink_.kick(vcpu);
    return 0;
}

int EventChannels::status(evtchn_status& status) noexcept {
    if (!is_self(status.dom, self_)) return -XEN_ESRCH;
    if (status.port >= kNrPorts) return -XEN_EINVAL;
    std::lock_guard lock(mutex_);
    const Port& p = ports_[status.port];
    status.vcpu = p.vcpu;
    status.u = {};
    switch (p.state) {
        case State::free:
            status.status = EVTCHNSTAT_closed;
            break;
        case State::unbound:
            status.status = EVTCHNSTAT_unbound;
            status.u.unbound.dom = p.remote_dom;
            break;
        case State::interdomain:
            status.status = EVTCHNSTAT_interdomain;
            status.u.interdomain.dom = self_;
            status.u.interdomain.port = p.remote_port;
            break;
        case State::backend:
            status.status = EVTCHNSTAT_interdomain;
            status.u.interdomain.dom = 0;
            status.u.interdomain.port = 0;
            break;
        case State::virq:
            status.status = EVTCHNSTAT_virq;
            status.u.virq = p.virq;
            break;
        case State::ipi:
            status.status = EVTCHNSTAT_ipi;
            break;
    }
    return 0;
}

std::shared_ptr<const Fd> EventChannels::duplicate(int backend_eventfd) noexcept {
    Fd copy(::fcntl(backend_eventfd, F_DUPFD_CLOEXEC, 0));
    if (!copy) return nullptr;
    try {
        return std::make_shared<const Fd>(std::move(copy));
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
}

evtchn_port_t EventChannels::bind_backend(int backend_eventfd, std::uint32_t vcpu) noexcept {
    auto doorbell = duplicate(backend_eventfd);
    if (!doorbell) return 0;
    std::lock_guard lock(mutex_);
    evtchn_port_t port = allocate_locked();
    if (!port) return 0;
    ports_[port].state = State::backend;
    ports_[port].doorbell = std::move(doorbell);
    ports_[port].vcpu = vcpu;
    return port;
}

int EventChannels::connect_backend(evtchn_port_t port, domid_t backend_dom,
                                   int backend_eventfd) noexcept {
    if (port == 0 || port >= kNrPorts) return -XEN_EINVAL;
    auto doorbell = duplicate(backend_eventfd);
    if (!doorbell) return -XEN_ENOMEM;
    std::lock_guard lock(mutex_);
    Port& p = ports_[port];
    if (p.state != State::unbound || p.remote_dom != backend_dom) return -XEN_EINVAL;
    p.state = State::backend;
    p.doorbell = std::move(doorbell);
    return 0;
}

void EventChannels::disconnect_backend(evtchn_port_t port) noexcept {
    if (port == 0 || port >= kNrPorts) return;
    std::lock_guard lock(mutex_);
    Port& p = ports_[port];
    if (p.state != State::backend) return;
    p.state = State::unbound;
    p.doorbell.reset();  // closed now, or by the last send() still writing to it
}

std::uint32_t EventChannels::notify_vcpu(evtchn_port_t port) noexcept {
    std::lock_guard lock(mutex_);
    return ports_[port].vcpu;
}

void EventChannels::raise(evtchn_port_t port) noexcept {
    if (port == 0 || port >= kNrPorts) return;
    deliver(port, notify_vcpu(port));
}

bool EventChannels::raise_virq(std::uint32_t virq, std::uint32_t vcpu) noexcept {
    if (virq >= NR_VIRQS || vcpu >= 64) return false;
    evtchn_port_t port = virq_ports_[vcpu][virq].load();
    if (!port) return false;
    deliver(port, vcpu);
    return true;
}

void EventChannels::deliver(evtchn_port_t port, std::uint32_t vcpu) noexcept {
    // Xen's 2-level rule: pending bit, then (if unmasked and newly pending) the selector
    // bit of the word, then upcall_pending; only a 0 -> 1 edge of the last one kicks.
    std::uint32_t word = port / kBitsPerWord;
    std::uint64_t bit = 1ull << (port % kBitsPerWord);
    if (atomic(shared_.evtchn_pending[word]).fetch_or(bit) & bit) return;
    if (atomic(shared_.evtchn_mask[word]).load() & bit) {
        sink_.kick(vcpu);  // a vCPU in SCHEDOP_poll waits for masked ports too
        return;
    }
    vcpu_info* info = sink_.vcpu_info_of(vcpu);
    if (!info) return;
    if (atomic(info->evtchn_pending_sel).fetch_or(1ull << word) & (1ull << word)) return;
    if (!atomic(info->evtchn_upcall_pending).exchange(1)) sink_.kick(vcpu);
}

bool EventChannels::any_pending(const evtchn_port_t* ports, std::uint32_t count) const noexcept {
    for (std::uint32_t i = 0; i < count; ++i) {
        evtchn_port_t port = ports[i];
        if (port == 0 || port >= kNrPorts) continue;
        std::uint64_t bit = 1ull << (port % kBitsPerWord);
        if (std::atomic_ref<std::uint64_t>(
                const_cast<std::uint64_t&>(shared_.evtchn_pending[port / kBitsPerWord]))
                .load() &
            bit)
            return true;
    }
    return false;
}

void EventChannels::resync_vcpu(std::uint32_t vcpu) noexcept {
    vcpu_info* info = sink_.vcpu_info_of(vcpu);
    if (!info) return;
    std::uint64_t selector = 0;
    {
        std::lock_guard lock(mutex_);
        for (evtchn_port_t port = 1; port < kNrPorts; ++port) {
            if (ports_[port].state == State::free || ports_[port].vcpu != vcpu) continue;
            std::uint32_t word = port / kBitsPerWord;
            std::uint64_t bit = 1ull << (port % kBitsPerWord);
            if ((atomic(shared_.evtchn_pending[word]).load() & bit) &&
                !(atomic(shared_.evtchn_mask[word]).load() & bit))
                selector |= 1ull << word;
        }
    }
    if (!selector) return;
    atomic(info->evtchn_pending_sel).fetch_or(selector);
    if (!atomic(info->evtchn_upcall_pending).exchange(1)) sink_.kick(vcpu);
}

}  // namespace domus::monitor
