// Event channels, Xen's 2-level ABI: a per-port handler table, the demultiplexer the
// upcall runs, and bind/close/mask/unmask/notify. Each port is handled by the vCPU it
// is bound to (Cpu::port_bits), because the pending bitmap is shared by all vCPUs.
#pragma once

#include <domus/abi/event_channel.h>
#include <domus/guest.h>

namespace domus::guest {

struct Cpu;

void init_events(); // masks every port, registers the upcall entry
void register_upcall_entry(); // on the calling vCPU
void evtchn_demux(Cpu* cpu); // upcall context, mask set
void events_resume(); // resumed in a new domain: forget every binding (upcalls masked)

int evtchn_bind_ipi(unsigned vcpu, evtchn_port_t* port);
int evtchn_bind_virq(unsigned virq, unsigned vcpu, evtchn_port_t* port);
int evtchn_alloc_unbound(domid_t remote, evtchn_port_t* port);
// Adopts a port the monitor bound for us (console, store), on vCPU 0 as start_info.h says.
void evtchn_bind_existing(evtchn_port_t port);
int evtchn_close(evtchn_port_t port);
void evtchn_set_handler(evtchn_port_t port, domus_event_handler handler, void* data);
void evtchn_mask(evtchn_port_t port);
void evtchn_unmask(evtchn_port_t port);
int evtchn_notify(evtchn_port_t port);

} // namespace domus::guest
