// EventChannels: the domain's event-channel ports and Xen's 2-level delivery into
// shared_info. Guest operations return 0 or a negative Xen errno; nothing a guest
// passes can make them fail in any other way.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "base/fd.hpp"

#include <domus/abi/event_channel.h>
#include <domus/abi/shared_info.h>

namespace domus::monitor {

// What the event logic needs from the domain: where each vCPU's vcpu_info lives,
// and a way to wake or kick a vCPU (called with no lock held by EventChannels).
class EventSink {
public:
    virtual ~EventSink() = default;
    virtual std::uint32_t nr_vcpus() const noexcept = 0;
    virtual vcpu_info* vcpu_info_of(std::uint32_t vcpu) noexcept = 0;
    virtual void kick(std::uint32_t vcpu) noexcept = 0;
    // A port connected to a monitor backend was notified by the guest. The fd is the
    // port's own duplicate of the backend's eventfd, open until this call returns.
    virtual void notify_backend(int backend_eventfd) noexcept = 0;
};

class EventChannels {
public:
    static constexpr std::uint32_t kNrPorts = DOMUS_NR_EVENT_CHANNELS;

    EventChannels(shared_info& shared, EventSink& sink, domid_t self) noexcept
        : shared_(shared), sink_(sink), self_(self) {}

    // Guest operations (hypercall handlers validate nothing else before calling).
    int alloc_unbound(domid_t dom, domid_t remote_dom, evtchn_port_t& port) noexcept;
    int bind_interdomain(domid_t remote_dom, evtchn_port_t remote_port,
                         evtchn_port_t& port) noexcept;
    int bind_virq(std::uint32_t virq, std::uint32_t vcpu, evtchn_port_t& port) noexcept;
    int bind_ipi(std::uint32_t vcpu, evtchn_port_t& port) noexcept;
    int bind_vcpu(evtchn_port_t port, std::uint32_t vcpu) noexcept;
    int close(evtchn_port_t port) noexcept;
    int send(evtchn_port_t port) noexcept;
    int unmask(evtchn_port_t port) noexcept;
    int status(evtchn_status& status) noexcept;

    // Monitor side: a port whose far end is a backend in this monitor; the guest's
    // notifications signal `backend_eventfd`. The port keeps a duplicate of the fd, so
    // the backend may close its own at any time. Returns 0 when no port is free (or
    // the fd cannot be duplicated).
    evtchn_port_t bind_backend(int backend_eventfd, std::uint32_t vcpu = 0) noexcept;
    // Monitor side, XenBus devices: takes over the guest's unbound `port` offered to
    // `backend_dom` (the frontend's alloc_unbound); its notifications then signal
    // `backend_eventfd` (duplicated, as above). -XEN_EINVAL unless the port is unbound
    // for that domain; -XEN_ENOMEM when the fd cannot be duplicated.
    int connect_backend(evtchn_port_t port, domid_t backend_dom, int backend_eventfd) noexcept;
    // Gives a port taken with connect_backend back to the guest (unbound again).
    void disconnect_backend(evtchn_port_t port) noexcept;
    // Marks a port pending and delivers it (backend → guest notification).
    void raise(evtchn_port_t port) noexcept;
    // Raises the port bound to `virq` on `vcpu`, if any. True if one was bound.
    bool raise_virq(std::uint32_t virq, std::uint32_t vcpu) noexcept;
    // True if any port in `ports` is pending (SCHEDOP_poll); ports are checked first.
    bool any_pending(const evtchn_port_t* ports, std::uint32_t count) const noexcept;
    // Re-delivers pending, unmasked ports of a vCPU whose vcpu_info moved.
    void resync_vcpu(std::uint32_t vcpu) noexcept;

private:
    enum class State : std::uint8_t { free, unbound, interdomain, virq, ipi, backend };
    struct Port {
        State state = State::free;
        std::uint32_t vcpu = 0;
        domid_t remote_dom = 0;
        evtchn_port_t remote_port = 0;  // interdomain loopback peer
        std::uint32_t virq = 0;
        // The backend's doorbell: a duplicate of its eventfd, shared with every send()
        // in flight, so a detach between the lookup and the write cannot let the write
        // land in a reused fd number (it closes when the last sender lets go).
        std::shared_ptr<const Fd> doorbell;
    };
    static std::shared_ptr<const Fd> duplicate(int backend_eventfd) noexcept;

    evtchn_port_t allocate_locked() noexcept;  // 0 when full
    void deliver(evtchn_port_t port, std::uint32_t vcpu) noexcept;
    std::uint32_t notify_vcpu(evtchn_port_t port) noexcept;

    shared_info& shared_;
    EventSink& sink_;
    domid_t self_;
    mutable std::mutex mutex_;
    std::array<Port, kNrPorts> ports_{};
    // virq_ports_[vcpu][virq]: 0 when unbound. Written under mutex_, read lock-free.
    std::array<std::array<std::atomic<evtchn_port_t>, NR_VIRQS>, 64> virq_ports_{};
};

}  // namespace domus::monitor
