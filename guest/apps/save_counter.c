/* Save/restore and migration test guest: counts in memory, writes a PV disk and reads it
 * back, and checks that time never goes backwards, across any number of moves. Every 20 ms
 * it writes one 512-byte sector (k, count, check word) at k = count % 2048 and reads back
 * another written one, compared with what memory says it should hold; a write the guest
 * saw acknowledged and then lost shows as an error. Its figures go to the store:
 *   data/counter/status = "count=<n> verified=<v> errors=<e> backwards=<b> now=<ns>"
 * (now: domus_monotonic_ns). Without a disk it only counts. With dirty_mb=N on the
 * command line it also dirties N MiB/s of a 64 MiB buffer, one stamp per 4 KiB page, and
 * checks the previous chunk's stamps (memory lost across a move shows as an error).
 * Built as save_counter_net (with the TCP/IP stack), it also serves a byte stream on port
 * 80 (save_counter_server.c) while it counts. */
#include <domus/block.h>
#include <domus/guest.h>
#include <domus/xenbus.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

#define BUFFER_MB 64

/* Stamps `bytes` of the buffer from `*at` on with `count`, after checking the stamps the
 * previous pass left there (0: never written). Returns the mismatches. */
static uint64_t dirty(
    uint8_t* buffer, uint64_t bytes, uint64_t* at, uint64_t count, uint64_t* stamps)
{
    uint64_t bad = 0, pages = (uint64_t)BUFFER_MB << 8;
    for (uint64_t i = 0; i < bytes / 4096; ++i) {
        uint64_t page = (*at + i) % pages;
        uint64_t seen;
        memcpy(&seen, buffer + page * 4096, sizeof seen);
        if (seen != stamps[page])
            ++bad;
        memcpy(buffer + page * 4096, &count, sizeof count);
        memset(buffer + page * 4096 + 64, (int)count, 64);
        stamps[page] = count;
    }
    *at = (*at + bytes / 4096) % pages;
    return bad;
}

/* save_counter_server.c, in save_counter_net only. */
void save_counter_serve(void) __attribute__((weak));

int main(int argc, char** argv)
{
    if (save_counter_serve)
        save_counter_serve();
    uint64_t dirty_mb = 0;
    for (int i = 1; i < argc; ++i)
        if (!strncmp(argv[i], "dirty_mb=", 9))
            dirty_mb = strtoull(argv[i] + 9, NULL, 10);
    uint8_t* buffer = dirty_mb ? calloc(BUFFER_MB, 1 << 20) : NULL;
    uint64_t* stamps = dirty_mb ? calloc((size_t)BUFFER_MB << 8, sizeof(uint64_t)) : NULL;
    uint64_t at = 0;
    int dev = blk_count() > 0 ? 0 : -1;
    uint64_t count = 0, verified = 0, errors = 0, backwards = 0, last = domus_monotonic_ns();
    char status[160];
    for (;;) {
        ++count;
        uint64_t now = domus_monotonic_ns();
        if (now < last)
            ++backwards;
        last = now;
        if (buffer && stamps) /* 50 ticks a second */
            errors += dirty(buffer, (dirty_mb << 20) / 50, &at, count, stamps);
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
