// Event channel demultiplexing and port management (see events.hpp).
#include "events.hpp"

#include "boot_info.hpp"
#include "hypercall.hpp"
#include "irq.hpp"
#include "percpu.hpp"
#include "printk.hpp"
#include "shutdown.hpp"

extern "C" void domus_upcall_entry();

namespace domus::guest {

namespace {

    struct PortSlot {
        domus_event_handler handler;
        void* data;
        uint32_t vcpu;
        bool bound;
    };

    PortSlot ports[DOMUS_NR_EVENT_CHANNELS];
    uint64_t unhandled_events;

    bool valid(evtchn_port_t port) { return port > 0 && port < DOMUS_NR_EVENT_CHANNELS; }

    // Records the binding and routes the port to `vcpu`'s demultiplexer.
    void attach(evtchn_port_t port, uint32_t vcpu)
    {
        if (!valid(port) || vcpu >= DOMUS_MAX_VCPUS)
            return;
        for (unsigned i = 0; i < DOMUS_MAX_VCPUS; ++i)
            if (cpus[i])
                __atomic_fetch_and(
                    &cpus[i]->port_bits[port / 64], ~(1ull << (port % 64)), __ATOMIC_SEQ_CST);
        ports[port].vcpu = vcpu;
        ports[port].bound = true;
        if (cpus[vcpu])
            __atomic_fetch_or(
                &cpus[vcpu]->port_bits[port / 64], 1ull << (port % 64), __ATOMIC_SEQ_CST);
    }

} // namespace

void register_upcall_entry()
{
    callback_register cb {};
    cb.type = CALLBACKTYPE_event;
    cb.address = reinterpret_cast<uint64_t>(&domus_upcall_entry);
    long rc = hyp_callback_op(CALLBACKOP_register, &cb);
    if (rc < 0)
        panic("callback_op(register) failed: %ld", rc);
}

void init_events()
{
    // Nothing is delivered until a port has a handler and is unmasked on purpose.
    for (auto& word : boot.shared->evtchn_mask)
        __atomic_store_n(&word, ~0ull, __ATOMIC_RELAXED);
    register_upcall_entry();
}

void events_resume()
{
    // A new domain: none of our ports exist any more. Everything masked and not pending,
    // no bindings; each part binds its ports again (suspend.cpp).
    for (unsigned w = 0; w < kPortWords; ++w) {
        __atomic_store_n(&boot.shared->evtchn_mask[w], ~0ull, __ATOMIC_SEQ_CST);
        __atomic_store_n(&boot.shared->evtchn_pending[w], 0ull, __ATOMIC_SEQ_CST);
        for (unsigned i = 0; i < DOMUS_MAX_VCPUS; ++i)
            if (cpus[i])
                __atomic_store_n(&cpus[i]->port_bits[w], 0ull, __ATOMIC_SEQ_CST);
    }
    for (auto& slot : ports) {
        __atomic_store_n(&slot.handler, nullptr, __ATOMIC_RELEASE);
        slot.bound = false;
    }
    for (unsigned i = 0; i < DOMUS_MAX_VCPUS; ++i)
        if (cpus[i])
            __atomic_store_n(&cpus[i]->vi.evtchn_pending_sel, 0ull, __ATOMIC_SEQ_CST);
}

void evtchn_demux(Cpu* cpu)
{
    shared_info* s = boot.shared;
    vcpu_info* vi = &cpu->vi;
    do {
        __atomic_store_n(&vi->evtchn_upcall_pending, 0, __ATOMIC_SEQ_CST);
        uint64_t sel = __atomic_exchange_n(&vi->evtchn_pending_sel, 0, __ATOMIC_SEQ_CST);
        while (sel) {
            unsigned word = __builtin_ctzll(sel);
            sel &= sel - 1;
            if (word >= kPortWords)
                continue;
            for (;;) {
                uint64_t bits = __atomic_load_n(&s->evtchn_pending[word], __ATOMIC_ACQUIRE)
                    & ~__atomic_load_n(&s->evtchn_mask[word], __ATOMIC_RELAXED)
                    & __atomic_load_n(&cpu->port_bits[word], __ATOMIC_RELAXED);
                if (!bits)
                    break;
                unsigned bit = __builtin_ctzll(bits);
                evtchn_port_t port = word * 64 + bit;
                // Clear before handling: an event raised during the handler runs it again.
                __atomic_fetch_and(&s->evtchn_pending[word], ~(1ull << bit), __ATOMIC_SEQ_CST);
                PortSlot& slot = ports[port];
                if (slot.handler)
                    slot.handler(port, slot.data);
                else
                    ++unhandled_events;
            }
        }
    } while (__atomic_load_n(&vi->evtchn_upcall_pending, __ATOMIC_SEQ_CST));
}

int evtchn_bind_ipi(unsigned vcpu, evtchn_port_t* port)
{
    struct evtchn_bind_ipi op { };
    op.vcpu = vcpu;
    long rc = hyp_event_channel_op(EVTCHNOP_bind_ipi, &op);
    if (rc < 0)
        return int(rc);
    attach(op.port, vcpu);
    *port = op.port;
    return 0;
}

int evtchn_bind_virq(unsigned virq, unsigned vcpu, evtchn_port_t* port)
{
    struct evtchn_bind_virq op { };
    op.virq = virq;
    op.vcpu = vcpu;
    long rc = hyp_event_channel_op(EVTCHNOP_bind_virq, &op);
    if (rc < 0)
        return int(rc);
    attach(op.port, vcpu);
    *port = op.port;
    return 0;
}

int evtchn_alloc_unbound(domid_t remote, evtchn_port_t* port)
{
    struct evtchn_alloc_unbound op { };
    op.dom = DOMID_SELF;
    op.remote_dom = remote;
    long rc = hyp_event_channel_op(EVTCHNOP_alloc_unbound, &op);
    if (rc < 0)
        return int(rc);
    attach(op.port, 0); // Xen notifies vCPU 0 for ports not bound to a vCPU
    *port = op.port;
    return 0;
}

void evtchn_bind_existing(evtchn_port_t port)
{
    attach(port, 0); // the boot contract: start_info's ports notify vCPU 0 (start_info.h)
}

int evtchn_close(evtchn_port_t port)
{
    if (!valid(port))
        return -XEN_EINVAL;
    evtchn_mask(port);
    struct evtchn_close op {
        port
    };
    long rc = hyp_event_channel_op(EVTCHNOP_close, &op);
    if (rc < 0)
        return int(rc);
    for (unsigned i = 0; i < DOMUS_MAX_VCPUS; ++i)
        if (cpus[i])
            __atomic_fetch_and(
                &cpus[i]->port_bits[port / 64], ~(1ull << (port % 64)), __ATOMIC_SEQ_CST);
    __atomic_store_n(&ports[port].handler, nullptr, __ATOMIC_RELEASE);
    ports[port].bound = false;
    return 0;
}

void evtchn_set_handler(evtchn_port_t port, domus_event_handler handler, void* data)
{
    if (!valid(port))
        return;
    uint8_t flags = irq_save();
    ports[port].data = data;
    __atomic_store_n(&ports[port].handler, handler, __ATOMIC_RELEASE);
    irq_restore(flags);
}

void evtchn_mask(evtchn_port_t port)
{
    if (valid(port))
        __atomic_fetch_or(
            &boot.shared->evtchn_mask[port / 64], 1ull << (port % 64), __ATOMIC_SEQ_CST);
}

void evtchn_unmask(evtchn_port_t port)
{
    if (!valid(port))
        return;
    __atomic_fetch_and(
        &boot.shared->evtchn_mask[port / 64], ~(1ull << (port % 64)), __ATOMIC_SEQ_CST);
    // It became pending while masked: no upcall was raised for it, let the monitor do it.
    if (__atomic_load_n(&boot.shared->evtchn_pending[port / 64], __ATOMIC_SEQ_CST)
        & (1ull << (port % 64))) {
        struct evtchn_unmask op {
            port
        };
        hyp_event_channel_op(EVTCHNOP_unmask, &op);
    }
}

int evtchn_notify(evtchn_port_t port) { return int(hyp_domus_notify(port)); }

} // namespace domus::guest
