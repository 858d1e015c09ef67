/* idle: a long-running domain for the Domus daemon. Boots, publishes data/idle/status =
 * "running", data/idle/started-ns = <monotonic ns> and data/idle/started-tsc = <the TSC
 * as main() began: the host's, no offset here> under its own xenstore home, then
 * sleeps until the toolstack asks it to stop through control/shutdown (the kernel's
 * shutdown watcher powers it off with code 0, or reboots it). It answers liveness
 * probes: whatever dom0 writes to data/ping it copies to data/pong. Without a store
 * (plain `domus run`) it says it needs the daemon and exits with code 2. */
#include <domus/guest.h>
#include <domus/xenbus.h>

#include <stdio.h>
#include <x86intrin.h>

/* Runs in the xenbus watch thread, so it may use xenbus itself. */
static void answer_ping(const char* path, const char* token, void* arg)
{
    (void)path, (void)token, (void)arg;
    char value[64];
    if (xenbus_read(XBT_NIL, "data/ping", value, sizeof value) > 0)
        xenbus_write(XBT_NIL, "data/pong", value);
}

int main(void)
{
    unsigned long long main_tsc = __rdtsc();
    printf("idle: booted\n");
    if (!xenbus_available()) {
        printf("idle: no xenstore; this guest needs the Domus daemon (domus-xenstored)\n");
        return 2;
    }
    int rc = xenbus_printf(
        XBT_NIL, "data/idle", "started-ns", "%llu", (unsigned long long)domus_monotonic_ns());
    if (rc == 0)
        rc = xenbus_printf(XBT_NIL, "data/idle", "started-tsc", "%llu", main_tsc);
    if (rc == 0)
        rc = xenbus_write(XBT_NIL, "data/idle/status", "running");
    if (rc < 0)
        printf("idle: cannot publish data/idle (error %d); running anyway\n", rc);
    if (xenbus_watch("data/ping", "ping", answer_ping, NULL) < 0)
        printf("idle: cannot watch data/ping; liveness probes will go unanswered\n");
    char domid[16];
    if (xenbus_read(XBT_NIL, "domid", domid, sizeof domid) < 0)
        domid[0] = '\0';
    printf(
        "idle: running%s%s; waiting for control/shutdown\n", domid[0] ? " as domain " : "", domid);
    fflush(stdout);
    /* Nothing ever signals this: the shutdown watcher ends the domain. */
    static domus_sem_t forever = DOMUS_SEM_INIT(0);
    for (;;)
        domus_sem_down(&forever);
}
