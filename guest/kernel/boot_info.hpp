// What the kernel keeps from start_info: copied at boot, so that nothing later depends
// on the monitor's start_info page staying intact.
#pragma once

#include <domus/abi/console.h>
#include <domus/abi/shared_info.h>
#include <domus/abi/start_info.h>
#include <stdint.h>

namespace domus::guest {

struct BootInfo {
    const start_info* start; // the monitor's page (valid at boot only)
    shared_info* shared;
    xencons_interface* console; // null: no ring, console_io only
    evtchn_port_t console_port;
    uint64_t heap_start;
    uint64_t heap_end;
    uint64_t nr_pages;
    uint32_t nr_vcpus; // vCPUs the domain may bring up
    uint32_t flags; // DOMUS_BOOT_*
    char cmdline[MAX_GUEST_CMDLINE];
};

extern BootInfo boot;

void init_boot_info(const start_info* si);

} // namespace domus::guest
