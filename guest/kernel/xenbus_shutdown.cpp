// The shutdown protocol (PV ABI reference 10.4): we advertise control/feature-poweroff
// and -reboot, watch control/shutdown, and when the toolstack writes "poweroff" (or
// "halt") or "reboot" there, ack by writing "" and leave through the kernel's poweroff
// (exit code 0) or reboot path, which drains the console first. "suspend" starts the
// suspend thread (suspend.cpp), and feature-suspend says so. Runs in xenbus-watch.
#include "printk.hpp"
#include "shutdown.hpp"
#include "suspend.hpp"
#include "xenbus.hpp"

#include <errno.h>
#include <string.h>

namespace domus::guest::xenbus {

namespace {

    constexpr const char* kShutdownNode = "control/shutdown";

    enum class Request { none, poweroff, reboot, suspend, unknown };

    Request parse(const char* value)
    {
        if (!*value)
            return Request::none;
        if (!strcmp(value, "poweroff") || !strcmp(value, "halt"))
            return Request::poweroff;
        if (!strcmp(value, "reboot"))
            return Request::reboot;
        if (!strcmp(value, "suspend"))
            return Request::suspend;
        return Request::unknown;
    }

    // Reads the request and acks it in one transaction, so that a request written between
    // our read and our ack is not wiped out unseen.
    Request take_request(char* value, size_t size)
    {
        for (int attempt = 0; attempt < 16; ++attempt) {
            xenbus_transaction_t tx;
            if (xenbus_transaction_start(&tx) < 0)
                return Request::none;
            int n = xenbus_read(tx, kShutdownNode, value, size);
            Request req = n < 0     ? Request::none
                : size_t(n) >= size ? Request::unknown // cut short: none of ours
                                    : parse(value);
            if (req == Request::none || req == Request::unknown) {
                xenbus_transaction_end(tx, 1);
                return req;
            }
            if (xenbus_write(tx, kShutdownNode, "") < 0) {
                xenbus_transaction_end(tx, 1);
                return Request::none;
            }
            int rc = xenbus_transaction_end(tx, 0);
            if (rc == 0)
                return req;
            if (rc != -EAGAIN)
                return Request::none;
        }
        return Request::none;
    }

    void on_shutdown(const char*, const char*, void*)
    {
        char value[32];
        switch (take_request(value, sizeof value)) {
        case Request::none:
            return; // the initial event, our own ack, or the node is gone
        case Request::poweroff:
            printk("domus: poweroff requested through xenstore\n");
            poweroff(0);
        case Request::reboot:
            printk("domus: reboot requested through xenstore\n");
            reboot();
        case Request::suspend:
            suspend_request();
            return;
        case Request::unknown:
            printk("domus: unknown shutdown request \"%s\" ignored\n", value);
            return;
        }
    }

} // namespace

void shutdown_watcher_start()
{
    int rc = xenbus_write(XBT_NIL, "control/feature-poweroff", "1");
    if (rc == 0)
        rc = xenbus_write(XBT_NIL, "control/feature-reboot", "1");
    if (rc == 0)
        rc = xenbus_write(XBT_NIL, "control/feature-suspend", "1");
    if (rc < 0)
        printk("xenbus: cannot advertise the shutdown features (%d)\n", rc);
    rc = xenbus_watch(kShutdownNode, "domus-shutdown", on_shutdown, nullptr);
    if (rc < 0)
        printk(
            "xenbus: cannot watch %s (%d): shutdown requests will be missed\n", kShutdownNode, rc);
}

} // namespace domus::guest::xenbus
