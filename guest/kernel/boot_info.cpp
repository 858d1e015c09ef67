// Reads and checks start_info (see boot_info.hpp).
#include "boot_info.hpp"

#include "hypercall.hpp"

#include <string.h>

namespace domus::guest {

BootInfo boot;

namespace {

    [[noreturn]] void early_die(const char* msg)
    {
        hyp_console_write(msg, strlen(msg));
        domus_sched_exit ex { SHUTDOWN_crash, 1 };
        hyp_sched_op(SCHEDOP_domus_exit, &ex);
        for (;;)
            hyp_sched_op(SCHEDOP_yield);
    }

} // namespace

void init_boot_info(const start_info* si)
{
    if (!si || strncmp(si->magic, DOMUS_START_INFO_MAGIC, sizeof DOMUS_START_INFO_MAGIC - 1) != 0)
        early_die("domus: bad start_info magic\n");
    boot.start = si;
    boot.shared = reinterpret_cast<shared_info*>(si->shared_info);
    boot.console = si->console.mfn
        ? reinterpret_cast<xencons_interface*>(si->console.mfn << XEN_PAGE_SHIFT)
        : nullptr;
    boot.console_port = si->console.evtchn;
    boot.heap_start = si->domus.heap_start;
    boot.heap_end = si->domus.heap_end;
    boot.nr_pages = si->nr_pages;
    boot.nr_vcpus = si->domus.nr_vcpus;
    if (boot.nr_vcpus < 1)
        boot.nr_vcpus = 1;
    if (boot.nr_vcpus > DOMUS_MAX_VCPUS)
        boot.nr_vcpus = DOMUS_MAX_VCPUS;
    boot.flags = si->domus.flags;
    memcpy(boot.cmdline, si->cmd_line, sizeof boot.cmdline);
    boot.cmdline[sizeof boot.cmdline - 1] = '\0';
    if (!boot.shared || boot.heap_start >= boot.heap_end)
        early_die("domus: start_info has no shared_info or no heap\n");
}

} // namespace domus::guest
