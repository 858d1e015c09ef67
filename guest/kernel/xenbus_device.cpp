// XenBus frontend helpers: device directory nodes and the backend-state wait.
#include "xenbus_device.hpp"

#include "printk.hpp"
#include "sched.hpp"
#include "time.hpp"

#include <domus/abi/blkif.h>
#include <domus/xenbus.h>

#include <errno.h>
#include <stdlib.h>

namespace domus::guest::xenbus_device {

uint64_t read_number(const char* dir, const char* node, uint64_t fallback)
{
    char path[192];
    char value[32];
    ksnprintf(path, sizeof path, "%s/%s", dir, node);
    int n = xenbus_read(XBT_NIL, path, value, sizeof value);
    if (n <= 0 || size_t(n) >= sizeof value)
        return fallback;
    char* end;
    unsigned long long v = strtoull(value, &end, 10);
    return *end == '\0' ? uint64_t(v) : fallback;
}

int write_state(const char* dir, int state)
{
    return xenbus_printf(XBT_NIL, dir, "state", "%d", state);
}

int backend_state(const char* backend_dir)
{
    return int(read_number(backend_dir, "state", XenbusStateUnknown));
}

int wait_backend(const char* backend_dir, const uint32_t* state_gen, int want, uint64_t timeout_ns)
{
    uint64_t deadline = monotonic_ns() + timeout_ns;
    for (;;) {
        uint32_t gen = __atomic_load_n(state_gen, __ATOMIC_ACQUIRE);
        int state = backend_state(backend_dir);
        if (state >= want)
            return state;
        for (;;) {
            if (monotonic_ns() >= deadline)
                return -ETIMEDOUT;
            if (__atomic_load_n(state_gen, __ATOMIC_ACQUIRE) != gen)
                break;
            sleep_until(monotonic_ns() + 2'000'000);
        }
    }
}

int publish_initialised(const char* dir, const Node* nodes, unsigned count)
{
    for (int attempt = 0; attempt < 16; ++attempt) {
        xenbus_transaction_t tx;
        int rc = xenbus_transaction_start(&tx);
        if (rc < 0)
            return rc;
        for (unsigned i = 0; i < count && rc == 0; ++i)
            rc = xenbus_printf(tx, dir, nodes[i].name, "%s", nodes[i].value);
        if (rc == 0)
            rc = xenbus_printf(tx, dir, "state", "%d", XenbusStateInitialised);
        if (rc < 0) {
            xenbus_transaction_end(tx, 1);
            return rc;
        }
        rc = xenbus_transaction_end(tx, 0);
        if (rc != -EAGAIN)
            return rc;
    }
    return -EAGAIN;
}

} // namespace domus::guest::xenbus_device
