// vCPU hot-plug driven by the store, as Linux's drivers/xen/cpu_hotplug.c: the toolstack
// writes cpu/<n>/availability ("online" or "offline"); one watch on `cpu` brings each
// vCPU up or takes it down (smp.cpp). vCPU 0 never goes offline. Runs in the main thread
// at boot (before main()) and in xenbus-watch afterwards.
#include "boot_info.hpp"
#include "percpu.hpp"
#include "printk.hpp"
#include "smp.hpp"
#include "smp_suspend.hpp"
#include "time.hpp"
#include "xenbus.hpp"

#include <errno.h>
#include <string.h>

namespace domus::guest {

namespace {

    enum class Availability { online, offline, absent, unknown };

    Availability availability(unsigned id)
    {
        char path[32], value[16];
        ksnprintf(path, sizeof path, "cpu/%u/availability", id);
        int n = xenbus_read(XBT_NIL, path, value, sizeof value);
        if (n == -ENOENT)
            return Availability::absent; // a toolstack without hot-plug: all are online
        if (n < 0 || size_t(n) >= sizeof value)
            return Availability::unknown;
        if (strcmp(value, "online") == 0)
            return Availability::online;
        if (strcmp(value, "offline") == 0)
            return Availability::offline;
        printk("domus: unknown availability \"%s\" of vCPU %u ignored\n", value, id);
        return Availability::unknown;
    }

    void apply_locked(unsigned id, Availability wanted)
    {
        switch (wanted) {
        case Availability::online:
            vcpu_bring_online(id);
            return;
        case Availability::offline:
            vcpu_take_offline(id); // vCPU 0 refuses, with a message
            return;
        case Availability::absent:
        case Availability::unknown:
            return;
        }
    }

    void apply(unsigned id)
    {
        Availability wanted = availability(id);
        smp_hotplug_lock(); // not while a suspend has the other vCPUs parked
        apply_locked(id, wanted);
        smp_hotplug_unlock();
    }

    // "cpu/<n>/availability" (or anything below cpu/<n>): that vCPU; "cpu" itself (the
    // first event, or the directory removed): all of them.
    void on_cpu_event(const char* path, const char*, void*)
    {
        const char* p = strstr(path, "cpu/");
        if (!p) {
            for (unsigned id = 0; id < boot.nr_vcpus; ++id)
                apply(id);
            return;
        }
        p += 4;
        unsigned id = 0;
        bool digits = false;
        for (; *p >= '0' && *p <= '9' && id < DOMUS_MAX_VCPUS; ++p, digits = true)
            id = id * 10 + unsigned(*p - '0');
        if (digits && (*p == '/' || *p == '\0') && id < boot.nr_vcpus)
            apply(id);
    }

} // namespace

void vcpu_hotplug_start()
{
    if (!xenbus_available()) {
        for (unsigned pass = 0; pass < 2; ++pass)
            for (unsigned id = 1; id < boot.nr_vcpus; ++id)
                vcpu_bring_online(id, pass == 1);
        return;
    }
    // Boot: every vCPU that is online (or has no node); started together, then awaited.
    bool wanted[DOMUS_MAX_VCPUS] = {};
    for (unsigned id = 1; id < boot.nr_vcpus; ++id) {
        Availability a = availability(id);
        wanted[id] = a == Availability::online || a == Availability::absent;
    }
    for (unsigned pass = 0; pass < 2; ++pass)
        for (unsigned id = 1; id < boot.nr_vcpus; ++id)
            if (wanted[id])
                vcpu_bring_online(id, pass == 1); // start all, then wait for each
    // Its first event applies every vCPU's availability again: nothing meanwhile is missed.
    xenbus::watch_soon("cpu", "domus-vcpu", on_cpu_event, nullptr, "vCPU hot-plug requests");
}

} // namespace domus::guest
