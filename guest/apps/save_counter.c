/* Save/restore and migration test guest: counts in memory, writes a PV disk and reads it
 * back, and checks that time never goes backwards, across any number of moves. Every 20 ms
 * it writes one 512-byte sector (k, count, check word) at k = count % 2048 and reads back
 * another written one, compared with what memory says it should hold; a write the guest
 * saw acknowledged and then lost shows as an error. Its figures go to the store:
 *   data/counter/status = "count=<n> verified=<v> errors=<e> backwards=<b> now=<ns>"
 * (now: domus_monotonic_ns). Without a disk it only counts. */
#include <domus/block.h>
#include <domus/guest.h>
#include <domus/xenbus.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define SECTORS 2048

static uint64_t expected[SECTORS]; /* the count last written to each sector; 0: never */
static uint8_t sector[512] __attribute__((aligned(512)));

static void fill(uint64_t k, uint64_t count)
{
    memset(sector, 0, sizeof sector);
    uint64_t words[3] = { k, count, k * 0x9E3779B97F4A7C15ull ^ count };
    memcpy(sector, words, sizeof words);
}

int main(void)
{
    int dev = blk_count() > 0 ? 0 : -1;
    uint64_t count = 0, verified = 0, errors = 0, backwards = 0, last = domus_monotonic_ns();
    char status[160];
    for (;;) {
        ++count;
        uint64_t now = domus_monotonic_ns();
        if (now < last)
            ++backwards;
        last = now;
        if (dev >= 0) {
            uint64_t k = count % SECTORS;
            fill(k, count);
            if (blk_write(dev, k, 1, sector) == 0)
                expected[k] = count;
            else
                ++errors;
            uint64_t j = (count * 7919) % SECTORS;
            if (expected[j]) {
                uint64_t want[3] = { j, expected[j], j * 0x9E3779B97F4A7C15ull ^ expected[j] };
                if (blk_read(dev, j, 1, sector) != 0 || memcmp(sector, want, sizeof want) != 0)
                    ++errors;
                else
                    ++verified;
            }
        }
        snprintf(status, sizeof status,
            "count=%llu verified=%llu errors=%llu backwards=%llu now=%llu",
            (unsigned long long)count, (unsigned long long)verified, (unsigned long long)errors,
            (unsigned long long)backwards, (unsigned long long)now);
        xenbus_write(XBT_NIL, "data/counter/status", status);
        domus_sleep_ms(20);
    }
}
