// The kernel's table of contents: vCPU 0 comes here from _start with the start_info
// pointer, brings every part up in order, starts the application's main() in a thread
// and becomes vCPU 0's idle loop.
#include "arch.hpp"
#include "balloon.hpp"
#include "blkfront.hpp"
#include "boot_info.hpp"
#include "cmdline.hpp"
#include "console.hpp"
#include "events.hpp"
#include "fpu.hpp"
#include "mm.hpp"
#include "percpu.hpp"
#include "printk.hpp"
#include "sched.hpp"
#include "shutdown.hpp"
#include "smp.hpp"
#include "time.hpp"
#include "xenbus.hpp"

#include <domus/guest.h>
#include <string.h>

// The C library glue runs main() (libc/start.cpp); without it there is nothing to run.
extern "C" __attribute__((weak)) int domus_libc_main(int, char**)
{
    domus::guest::printk("domus: no application linked\n");
    return 1;
}

namespace domus::guest {

namespace {

    Cpu cpu0;
    domus_boot_marks boot_marks; // written by vCPU 0's boot and the main thread, once

    void main_thread(void*)
    {
        vcpu_hotplug_start(); // the vCPUs the store says are online, then the `cpu` watch
        balloon::start(); // down to memory/target before main(), then watching it
        boot_marks.main_call_tsc = rdtsc_ordered();
        int rc = domus_libc_main(cmdline_argc(), cmdline_argv());
        poweroff(rc);
    }

    void start_app()
    {
        domus_thread_attr_t attr {};
        attr.name = "main";
        attr.vcpu = DOMUS_ANY_VCPU;
        attr.stack_size = 256 * 1024;
        if (!thread_create(main_thread, nullptr, &attr))
            panic("cannot create the main thread");
    }

} // namespace

} // namespace domus::guest

extern "C" void domus_get_boot_marks(domus_boot_marks* marks) { *marks = domus::guest::boot_marks; }

extern "C" [[noreturn]] void domus_start_kernel(const start_info* si)
{
    using namespace domus::guest;
    boot_marks.kernel_entry_tsc = rdtsc_ordered();
    init_boot_info(si); // copy what start_info says; console_io output works from here
    init_percpu_boot(&cpu0); // GS base, vcpu_info of vCPU 0 registered
    init_fpu(); // xsave size and mask for upcalls
    init_mm(); // page allocator and sbrk heap
    init_time(); // pvclock
    init_events(); // all ports masked, upcall entry registered
    init_console(); // console ring and input event
    init_sched(); // run queue
    init_cpu_timer(cpus[0]); // VIRQ_TIMER of vCPU 0
    init_smp(); // IPI ports, secondary vCPUs up
    init_cmdline(); // argc/argv
    init_xenbus(); // store ring (if any), xenbus threads, shutdown watcher
    blkfront::init(); // vbd probe thread (if a store); blk_count() waits for it
    if (strstr(boot.cmdline, "domus.verbose"))
        printk("domus: %u vCPUs, %lu MiB, heap 0x%lx-0x%lx\n", nr_cpus_online,
            (unsigned long)(boot.nr_pages >> 8), (unsigned long)boot.heap_start,
            (unsigned long)boot.heap_end);
    boot_marks.kernel_ready_tsc = rdtsc_ordered();
    start_app(); // main() in a thread
    idle_loop(); // this boot context is vCPU 0's idle thread from now on
}
