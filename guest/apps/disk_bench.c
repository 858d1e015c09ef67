/* disk_bench: block I/O through the emulated ATA PIO disk (<domus/emulated_disk.h>), the
 * full-virtualization baseline that the PV block path is compared with.
 *
 * Command line (all optional):
 *   mode=seqread|seqwrite|randread|verify   (default verify)
 *   size_mb=N    bytes covered from sector 0 (default 4, at most the disk)
 *   size_kb=N    the same in KiB, overrides size_mb (writes are slow: see below)
 *   block_kb=N   bytes per edisk_read/edisk_write call (default 128 = 256 sectors, one command)
 *   ops=N        randread: number of random 4 KiB reads (default 256)
 *   gen=N        verify/seqwrite: pattern generation (default 1)
 *
 * Output, one figure per line, `name value unit`:
 *   edisk_seq_read_mib_s, edisk_seq_write_mib_s (includes the final flush),
 *   edisk_rand4k_read_iops; verify prints `disk_bench: PASS` or `disk_bench: FAIL <what>`.
 * Exits per MiB are counted by the monitor: run with `domus run --stats` and read
 * edisk_exits_per_mib (= (edisk_register_exits + edisk_data_exits) / MiB through DATA).
 * KVM batches `rep insl` (one exit per sector here) but emulates `rep outsl` one dword
 * per exit, so writes cost ~128 exits per sector.
 *
 * Pattern of sector s (what the host-side test checks): bytes 0-7 s (little-endian),
 * bytes 8-15 "EDISKPAT", byte i >= 16: (s * 131 + i * 7 + gen * 29) & 0xFF. */
#include <domus/emulated_disk.h>
#include <domus/guest.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long arg(const char* key, long fallback)
{
    char value[32];
    return domus_cmdline_get(key, value, sizeof value) ? strtol(value, NULL, 10) : fallback;
}

static void fill_sector(uint8_t* p, uint64_t s, unsigned gen)
{
    for (unsigned i = 0; i < 8; ++i)
        p[i] = (uint8_t)(s >> (8 * i));
    memcpy(p + 8, "EDISKPAT", 8);
    for (unsigned i = 16; i < EDISK_SECTOR_BYTES; ++i)
        p[i] = (uint8_t)(s * 131 + i * 7 + gen * 29);
}

static double seconds_since(uint64_t start_ns)
{
    return (double)(domus_monotonic_ns() - start_ns) / 1e9;
}

static int fail(const char* what, long detail)
{
    printf("disk_bench: FAIL %s (%ld)\n", what, detail);
    return 1;
}

/* Writes the pattern over [0, sectors) in blocks of `block` sectors, then flushes. */
static int write_pattern(uint8_t* buf, uint64_t sectors, uint32_t block, unsigned gen)
{
    for (uint64_t s = 0; s < sectors; s += block) {
        uint32_t n = sectors - s < block ? (uint32_t)(sectors - s) : block;
        for (uint32_t i = 0; i < n; ++i)
            fill_sector(buf + (size_t)i * EDISK_SECTOR_BYTES, s + i, gen);
        int rc = edisk_write(s, n, buf);
        if (rc)
            return fail("write", rc);
    }
    int rc = edisk_flush();
    return rc ? fail("flush", rc) : 0;
}

static int check_range(uint8_t* buf, uint64_t first, uint32_t n, unsigned gen)
{
    uint8_t want[EDISK_SECTOR_BYTES];
    int rc = edisk_read(first, n, buf);
    if (rc)
        return fail("read", rc);
    for (uint32_t i = 0; i < n; ++i) {
        fill_sector(want, first + i, gen);
        if (memcmp(buf + (size_t)i * EDISK_SECTOR_BYTES, want, EDISK_SECTOR_BYTES) != 0)
            return fail("data mismatch at sector", (long)(first + i));
    }
    return 0;
}

static int verify(uint8_t* buf, uint64_t sectors, uint32_t block, unsigned gen)
{
    if (edisk_read_only())
        return fail("disk is read-only", 0);
    if (write_pattern(buf, sectors, block, gen))
        return 1;
    /* Read back in the write's blocks, then in odd-sized pieces that straddle them. */
    for (uint64_t s = 0; s < sectors; s += block) {
        uint32_t n = sectors - s < block ? (uint32_t)(sectors - s) : block;
        if (check_range(buf, s, n, gen))
            return 1;
    }
    uint32_t odd = block > 3 ? block - 3 : 1;
    for (uint64_t s = 1; s < sectors; s += odd * 7) {
        uint32_t n = sectors - s < odd ? (uint32_t)(sectors - s) : odd;
        if (check_range(buf, s, n, gen))
            return 1;
    }
    /* A command of exactly 256 sectors (COUNT register 0) and one of 257 (two commands). */
    if (sectors >= 257 && block >= 257 && check_range(buf, 0, 257, gen))
        return 1;
    /* Out of range is refused without touching the disk; a zero count is a no-op. */
    uint64_t end = edisk_sectors();
    if (edisk_read(end, 1, buf) != -EINVAL)
        return fail("read past the end not refused", 0);
    if (edisk_read(end - 1, 2, buf) != -EINVAL)
        return fail("read across the end not refused", 0);
    if (edisk_read(0, 0, buf) != 0)
        return fail("empty read", 0);
    printf("edisk_verify_mib %.2f MiB\n", (double)sectors / 2048.0);
    printf("disk_bench: PASS\n");
    return 0;
}

int main(void)
{
    char mode[16] = "verify";
    domus_cmdline_get("mode", mode, sizeof mode);
    long size_mb = arg("size_mb", 4), block_kb = arg("block_kb", 128), ops = arg("ops", 256);
    unsigned gen = (unsigned)arg("gen", 1);
    if (!edisk_present()) {
        printf("disk_bench: FAIL no emulated disk (domus run --emulated-disk PATH)\n");
        return 2;
    }
    long size_kb = arg("size_kb", (size_mb > 0 ? size_mb : 1) * 1024);
    uint64_t sectors = (uint64_t)(size_kb > 0 ? size_kb : 1) * 2;
    if (sectors > edisk_sectors())
        sectors = edisk_sectors();
    uint32_t block = (uint32_t)(block_kb > 0 ? block_kb : 1) * 2;
    uint8_t* buf = malloc((size_t)block * EDISK_SECTOR_BYTES);
    if (!buf)
        return fail("out of memory", block_kb);
    double mib = (double)sectors / 2048.0;
    int rc = 0;

    if (strcmp(mode, "verify") == 0) {
        rc = verify(buf, sectors, block, gen);
    } else if (strcmp(mode, "seqwrite") == 0) {
        uint64_t start = domus_monotonic_ns();
        rc = write_pattern(buf, sectors, block, gen);
        if (!rc)
            printf("edisk_seq_write_mib_s %.3f MiB/s\n", mib / seconds_since(start));
    } else if (strcmp(mode, "seqread") == 0) {
        uint64_t start = domus_monotonic_ns();
        for (uint64_t s = 0; s < sectors && !rc; s += block) {
            uint32_t n = sectors - s < block ? (uint32_t)(sectors - s) : block;
            if ((rc = edisk_read(s, n, buf)) != 0)
                rc = fail("read", rc);
        }
        if (!rc)
            printf("edisk_seq_read_mib_s %.3f MiB/s\n", mib / seconds_since(start));
    } else if (strcmp(mode, "randread") == 0) {
        uint64_t slots = sectors / 8, state = 0x9E3779B97F4A7C15ull;
        if (slots == 0 || block < 8)
            return fail("randread needs size_mb >= 1 and block_kb >= 4", 0);
        uint64_t start = domus_monotonic_ns();
        for (long i = 0; i < ops && !rc; ++i) {
            state ^= state << 13, state ^= state >> 7, state ^= state << 17; /* xorshift64 */
            if ((rc = edisk_read((state % slots) * 8, 8, buf)) != 0)
                rc = fail("read", rc);
        }
        if (!rc)
            printf("edisk_rand4k_read_iops %.1f IOPS\n", (double)ops / seconds_since(start));
    } else {
        printf("disk_bench: FAIL unknown mode %s\n", mode);
        rc = 2;
    }
    free(buf);
    fflush(stdout);
    return rc;
}
