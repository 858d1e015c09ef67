/* blk_hotplug: follows disks that the toolstack attaches and detaches while it runs.
 *
 * Command line: rounds=N (default 1), timeout_s=30.
 * Each round waits for one more block device, writes "domus-hotplug round <r> <name>"
 * into its first sector and flushes, then waits until the device is gone (detached).
 * It reports each step on the console and in its store node data/hotplug (for the
 * test driving it):
 *   "ready <count>", "attached <name> <index> <sectors>", "wrote <name>",
 *   "detached <name> <status of a read after it> free=<free pages>", then "PASS" (exit 0), or
 *   "FAIL <what>" (exit 1). */
#include <domus/block.h>
#include <domus/guest.h>
#include <domus/xenbus.h>
#include <stdarg.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void report(const char* fmt, ...)
{
    char line[128];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    printf("hotplug: %s\n", line);
    xenbus_write(XBT_NIL, "data/hotplug", line);
}

static int fail(const char* what, long value)
{
    report("FAIL %s (%ld)", what, value);
    return 1;
}

int main(void)
{
    uint64_t rounds = domus_cmdline_u64("rounds", 1);
    uint64_t timeout_ms = domus_cmdline_u64("timeout_s", 30) * 1000;
    static char sector[4096];
    int count = blk_count();
    report("ready %d", count);
    for (uint64_t round = 1; round <= rounds; ++round) {
        int got = blk_wait_count(count + 1, timeout_ms);
        if (got < 0)
            return fail("no disk attached", got);
        int dev = count;
        count = got;
        struct blk_info info;
        if (blk_info(dev, &info) != 0 || !info.connected)
            return fail("blk_info of the new disk", dev);
        report("attached %s %d %llu", info.name, dev, (unsigned long long)info.sectors);
        memset(sector, 0, sizeof sector);
        snprintf(sector, sizeof sector, "domus-hotplug round %llu %s", (unsigned long long)round,
            info.name);
        int rc = blk_write(dev, 0, info.sector_size / 512, sector);
        if (rc == 0 && info.flush)
            rc = blk_flush(dev);
        if (rc != 0)
            return fail("write", rc);
        report("wrote %s", info.name);
        uint64_t waited = 0;
        while (blk_info(dev, &info) == 0 && info.connected) {
            if (waited >= timeout_ms)
                return fail("disk not detached", dev);
            domus_sleep_us(5000);
            waited += 5;
        }
        rc = blk_read(dev, 0, info.sector_size / 512, sector);
        report("detached %s %d free=%llu", info.name, rc, (unsigned long long)domus_free_pages());
    }
    report("PASS");
    return 0;
}
