/* blk_tool: exercises and measures a PV block device through <domus/block.h>.
 *
 * Command line (key=value):
 *   mode=info|verify|crashwrite|seqread|seqwrite|randread|randwrite   (default info)
 *   dev=0  size_mb=16  block_kb=64  qd=1  seed=1  seconds=2 (random modes: run time)
 *   loops=1 (sequential modes: times over the size_mb area, back at sector 0 each time)
 *
 * verify writes a pattern that encodes each sector number and the seed over the first
 * size_mb MiB, flushes, reads it back and checks it; then unaligned buffers, odd sector
 * counts, partial overwrites, sector-aligned buffers that start inside a page (zero-copy
 * requests whose segments start at an offset), QD-32 reads, and the range checks.
 * The benchmarks use page-aligned buffers (as an O_DIRECT application would), which
 * the kernel grants to the backend directly. It prints
 * "blk_tool: PASS" (exit 0) or "blk_tool: FAIL <what>" (exit 1).
 * The benchmarks print "name value unit" lines (monotonic clock): blk_seq_read_mib_s,
 * blk_seq_write_mib_s, blk_rand4k_read_iops, blk_rand4k_write_iops, with _qd<N> before
 * the unit part when qd > 1 (blk_rand4k_read_qd32_iops).
 * crashwrite writes the pattern front to back, block by block with QD 8, and after each
 * flush_mb MiB flushes and then records in the store node data/flushed how many
 * sectors from 0 are now flushed; a test kills the monitor meanwhile and checks that
 * much of the image. It ends after size_mb ("blk_tool: PASS").
 * Without a block device: "blk_tool: no block device", exit 2. */
#include <domus/block.h>
#include <domus/guest.h>
#include <domus/xenbus.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_QD 32
#define SECTOR 512u

static int dev;
static struct blk_info info;

static int fail(const char* what, long long value)
{
    printf("blk_tool: FAIL %s (%lld)\n", what, value);
    return 1;
}

/* ---- pattern ------------------------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Sector `sector` of the pattern for `seed`: word 0 is the sector number itself, the
 * others depend on (seed, sector, index). */
static void fill_sector(uint8_t* dst, uint64_t sector, uint64_t seed)
{
    uint64_t words[SECTOR / 8];
    words[0] = sector;
    for (unsigned i = 1; i < SECTOR / 8; ++i)
        words[i] = mix(seed << 48 ^ sector << 9 ^ i);
    memcpy(dst, words, SECTOR); /* dst may be unaligned */
}

static void fill(uint8_t* dst, uint64_t sector, uint64_t count, uint64_t seed)
{
    for (uint64_t i = 0; i < count; ++i)
        fill_sector(dst + i * SECTOR, sector + i, seed);
}

/* Index of the first bad sector, or -1. */
static long long check(const uint8_t* src, uint64_t sector, uint64_t count, uint64_t seed)
{
    uint8_t want[SECTOR];
    for (uint64_t i = 0; i < count; ++i) {
        fill_sector(want, sector + i, seed);
        if (memcmp(src + i * SECTOR, want, SECTOR) != 0)
            return (long long)(sector + i);
    }
    return -1;
}

/* ---- verify -------------------------------------------------------------------- */

static int verify(uint64_t sectors, uint64_t block_sectors, uint64_t seed)
{
    if (info.read_only)
        return fail("device is read-only", 0);
    uint8_t* buf = malloc(block_sectors * SECTOR + 64);
    if (!buf)
        return fail("out of memory", 0);

    /* 1. the whole area, block by block */
    for (uint64_t s = 0; s < sectors; s += block_sectors) {
        uint64_t n = sectors - s < block_sectors ? sectors - s : block_sectors;
        fill(buf, s, n, seed);
        int rc = blk_write(dev, s, (uint32_t)n, buf);
        if (rc)
            return fail("write", rc);
    }
    int rc = blk_flush(dev);
    if (rc && !(rc == -EOPNOTSUPP && !info.flush))
        return fail("flush", rc);
    for (uint64_t s = 0; s < sectors; s += block_sectors) {
        uint64_t n = sectors - s < block_sectors ? sectors - s : block_sectors;
        memset(buf, 0xa5, n * SECTOR);
        rc = blk_read(dev, s, (uint32_t)n, buf);
        if (rc)
            return fail("read", rc);
        long long bad = check(buf, s, n, seed);
        if (bad >= 0)
            return fail("data mismatch at sector", bad);
    }

    /* 2. unaligned buffers and odd counts (1, 7, 9, 23, 89 sectors: within one page,
     * across pages, past 11 segments) at odd sectors */
    static const uint32_t counts[] = { 1, 7, 9, 23, 89 };
    uint32_t unit = info.sector_size / SECTOR;
    for (unsigned k = 0; k < sizeof counts / sizeof counts[0] && unit == 1; ++k) {
        uint32_t n = counts[k];
        uint64_t s = (uint64_t)(3 + 17 * k) % sectors;
        if (s + n > sectors || n > block_sectors)
            continue;
        uint8_t* p = buf + 1 + k; /* never aligned */
        memset(p, 0x5a, n * SECTOR);
        rc = blk_read(dev, s, n, p);
        if (rc)
            return fail("unaligned read", rc);
        long long bad = check(p, s, n, seed);
        if (bad >= 0)
            return fail("unaligned read mismatch at sector", bad);
    }

    /* 3. an unaligned partial overwrite with another seed; neighbours must stay */
    if (unit == 1 && sectors >= 64 && block_sectors >= 16) {
        uint64_t s = 21;
        uint8_t* p = buf + 3;
        fill(p, s, 13, seed + 1);
        if ((rc = blk_write(dev, s, 13, p)))
            return fail("unaligned write", rc);
        memset(buf, 0, 15 * SECTOR + 8);
        if ((rc = blk_read(dev, s - 1, 15, buf + 5)))
            return fail("read after unaligned write", rc);
        if (check(buf + 5, s - 1, 1, seed) >= 0 || check(buf + 5 + SECTOR, s, 13, seed + 1) >= 0
            || check(buf + 5 + 14 * SECTOR, s + 13, 1, seed) >= 0)
            return fail("partial overwrite mismatch at sector", (long long)s);
        fill(p, s, 13, seed); /* restore */
        if ((rc = blk_write(dev, s, 13, p)))
            return fail("restoring write", rc);
    }

    /* 3b. sector-aligned buffers at every offset in a page, over many pages: the kernel
     * grants the caller's pages, the first and last segment partial. Write with one
     * seed, read back (into another offset), check, and restore. */
    if (unit == 1 && sectors >= 1024 && block_sectors >= 128) {
        uint8_t* area = aligned_alloc(4096, 128 * SECTOR + 4096);
        if (!area)
            return fail("out of memory", 0);
        for (unsigned k = 0; k < 8; ++k) {
            uint64_t s = 300 + 131 * k;
            uint32_t n = 41 + 11 * k; /* 41..118 sectors: 6..16 pages */
            uint8_t* w = area + 512 * k;
            uint8_t* r = area + 512 * ((k + 3) % 8);
            fill(w, s, n, seed + 7);
            if ((rc = blk_write(dev, s, n, w)))
                return fail("sector-aligned write", rc);
            memset(area, 0x77, 128 * SECTOR + 4096);
            if ((rc = blk_read(dev, s - 1, n + 2, r)))
                return fail("sector-aligned read", rc);
            if (check(r, s - 1, 1, seed) >= 0 || check(r + (n + 1) * SECTOR, s + n, 1, seed) >= 0)
                return fail("sector-aligned write spilled at sector", (long long)s);
            long long bad = check(r + SECTOR, s, n, seed + 7);
            if (bad >= 0)
                return fail("sector-aligned read mismatch at sector", bad);
            fill(w, s, n, seed);
            if ((rc = blk_write(dev, s, n, w)))
                return fail("restoring write", rc);
        }
        free(area);
    }

    /* 4. QD 32: many 4 KiB reads in flight at once, completed out of order */
    if (sectors >= 8 * MAX_QD) {
        static struct blk_op ops[MAX_QD];
        uint8_t* qbuf = malloc(MAX_QD * 4096);
        if (!qbuf)
            return fail("out of memory", 0);
        uint64_t rnd = seed;
        for (int round = 0; round < 8; ++round) {
            for (int i = 0; i < MAX_QD; ++i) {
                rnd = mix(rnd);
                ops[i] = (struct blk_op) { .type = BLK_OP_READ,
                    .sector = (rnd % (sectors / 8)) * 8,
                    .count = 8,
                    .buf = qbuf + i * 4096 };
                if ((rc = blk_submit(dev, &ops[i])))
                    return fail("submit", rc);
            }
            for (int i = MAX_QD - 1; i >= 0; --i) {
                if ((rc = blk_wait(&ops[i])))
                    return fail("async read", rc);
                long long bad = check(ops[i].buf, ops[i].sector, 8, seed);
                if (bad >= 0)
                    return fail("async read mismatch at sector", bad);
            }
        }
        free(qbuf);
    }

    /* 5. the range checks */
    if ((rc = blk_read(dev, info.sectors, 1, buf)) != -EINVAL)
        return fail("read past the end gave", rc);
    if ((rc = blk_read(dev, UINT64_MAX, 2, buf)) != -EINVAL)
        return fail("read with a wrapping range gave", rc);
    if ((rc = blk_read(dev + BLK_MAX_DEVICES, 0, 1, buf)) != -ENODEV)
        return fail("read from a missing device gave", rc);
    if (info.discard && (rc = blk_discard(dev, sectors, 0)) != 0)
        return fail("empty discard", rc);

    free(buf);
    printf("blk_tool: PASS\n");
    return 0;
}

/* ---- crash consistency ----------------------------------------------------------- */

static int crashwrite(uint64_t sectors, uint64_t block_sectors, uint64_t seed, uint64_t flush_mb)
{
    enum { DEPTH = 8 };
    static struct blk_op ops[DEPTH];
    uint8_t* buf = malloc(DEPTH * block_sectors * SECTOR);
    if (!buf)
        return fail("out of memory", 0);
    uint64_t flush_every = flush_mb * 2048, next_flush = flush_every;
    for (uint64_t s = 0; s < sectors;) {
        int n_ops = 0;
        for (; n_ops < DEPTH && s < sectors; ++n_ops) {
            uint64_t n = sectors - s < block_sectors ? sectors - s : block_sectors;
            uint8_t* b = buf + n_ops * block_sectors * SECTOR;
            fill(b, s, n, seed);
            ops[n_ops]
                = (struct blk_op) { .type = BLK_OP_WRITE, .sector = s, .count = n, .buf = b };
            int rc = blk_submit(dev, &ops[n_ops]);
            if (rc)
                return fail("submit", rc);
            s += n;
        }
        for (int i = 0; i < n_ops; ++i) {
            int rc = blk_wait(&ops[i]);
            if (rc)
                return fail("write", rc);
        }
        if (s >= next_flush || s == sectors) {
            int rc = blk_flush(dev);
            if (rc)
                return fail("flush", rc);
            char value[24];
            snprintf(value, sizeof value, "%llu", (unsigned long long)s);
            xenbus_write(XBT_NIL, "data/flushed", value);
            next_flush = s + flush_every;
        }
    }
    free(buf);
    printf("blk_tool: PASS\n");
    return 0;
}

/* ---- benchmarks ------------------------------------------------------------------ */

struct bench {
    int type;
    int random;
    uint64_t area; /* sectors */
    uint64_t block; /* sectors per op */
    uint64_t next; /* sequential: next sector */
    uint64_t rnd;
};

static void next_op(struct bench* b, struct blk_op* op, void* buf)
{
    uint64_t sector;
    if (b->random) {
        b->rnd = mix(b->rnd);
        sector = (b->rnd % (b->area / b->block)) * b->block;
    } else {
        sector = b->next;
        b->next = (b->next + b->block) % (b->area / b->block * b->block);
    }
    *op = (struct blk_op) { .type = b->type, .sector = sector, .count = b->block, .buf = buf };
}

/* Keeps qd ops in flight, each on its own block of `bufs`, until `ops` are done (ops == 0:
 * until `deadline`). Returns the number completed, or a negative errno. */
static long long pipeline(
    struct bench* b, unsigned qd, uint64_t ops, uint64_t deadline, uint8_t* bufs)
{
    static struct blk_op inflight[MAX_QD];
    uint64_t submitted = 0, completed = 0;
    for (unsigned i = 0; i < qd && (!ops || submitted < ops); ++i, ++submitted) {
        next_op(b, &inflight[i], bufs + i * b->block * SECTOR);
        blk_submit(dev, &inflight[i]);
    }
    for (unsigned i = 0; completed < submitted; i = (i + 1) % qd) {
        int rc = blk_wait(&inflight[i]);
        if (rc)
            return rc;
        ++completed;
        int more = ops ? submitted < ops : domus_monotonic_ns() < deadline;
        if (more) {
            next_op(b, &inflight[i], bufs + i * b->block * SECTOR);
            blk_submit(dev, &inflight[i]);
            ++submitted;
        }
    }
    return (long long)completed;
}

static void metric_name(char* out, size_t size, const char* base, unsigned qd, const char* unit)
{
    if (qd > 1)
        snprintf(out, size, "%s_qd%u_%s", base, qd, unit);
    else
        snprintf(out, size, "%s_%s", base, unit);
}

/* The frontend's share of each request since `before`: time per stage and counts. */
static void print_stages(const struct blk_stats* before)
{
    struct blk_stats now;
    if (blk_stats(dev, &now) != 0 || now.requests == before->requests)
        return;
    double n = (double)(now.requests - before->requests);
    printf("blk_guest_submit_us %.3f us\n", (double)(now.submit_ns - before->submit_ns) / 1e3 / n);
    printf("blk_guest_complete_us %.3f us\n",
        (double)(now.complete_ns - before->complete_ns) / 1e3 / n);
    printf("blk_guest_wait_us %.3f us\n", (double)(now.wait_ns - before->wait_ns) / 1e3 / n);
    printf("blk_guest_grant_ops_per_request %.2f ops\n",
        (double)(now.grant_ops - before->grant_ops) / n);
    printf("blk_guest_locks_per_request %.2f locks\n",
        (double)(now.lock_acquisitions - before->lock_acquisitions) / n);
    printf("blk_guest_notifications_per_request %.3f notifications\n",
        (double)(now.notifications - before->notifications) / n);
    printf("blk_guest_sleeps_per_request %.3f sleeps\n", (double)(now.sleeps - before->sleeps) / n);
}

static int bench(const char* mode, uint64_t sectors, uint64_t block_sectors, unsigned qd,
    uint64_t seed, uint64_t seconds, uint64_t loops)
{
    struct bench b = { 0 };
    b.area = sectors;
    b.rnd = seed;
    int write = strstr(mode, "write") != NULL;
    b.type = write ? BLK_OP_WRITE : BLK_OP_READ;
    b.random = !strncmp(mode, "rand", 4);
    b.block = b.random ? 4096 / SECTOR : block_sectors;
    if (b.block < info.sector_size / SECTOR || b.area < b.block)
        return fail("block or area smaller than a sector", (long long)b.block);
    if (write && info.read_only)
        return fail("device is read-only", 0);

    /* The buffers are touched before the clock starts, as the host baseline's are: a
     * guest's first touch of a page is a nested EPT fault, not disk I/O. */
    uint8_t* bufs = aligned_alloc(4096, qd * b.block * SECTOR);
    if (!bufs)
        return fail("no memory for the buffers", -ENOMEM);
    /* What a first touch costs here against a second one: the price of guest memory
     * the guest itself touches first (nested paging faults), per MiB. */
    size_t bytes = qd * b.block * SECTOR;
    uint64_t touch0 = domus_monotonic_ns();
    memset(bufs, 0x3c, bytes);
    uint64_t touch1 = domus_monotonic_ns();
    memset(bufs, 0x3d, bytes);
    uint64_t touch2 = domus_monotonic_ns();
    double mib = (double)bytes / (1024.0 * 1024.0);
    printf("blk_guest_first_touch_us_per_mib %.1f us\n", (double)(touch1 - touch0) / 1e3 / mib);
    printf("blk_guest_touch_us_per_mib %.1f us\n", (double)(touch2 - touch1) / 1e3 / mib);
    struct blk_stats before;
    blk_stats(dev, &before);
    uint64_t t0 = domus_monotonic_ns();
    long long done = b.random ? pipeline(&b, qd, 0, t0 + seconds * 1000000000ull, bufs)
                              : pipeline(&b, qd, loops * (b.area / b.block), 0, bufs);
    uint64_t ns = domus_monotonic_ns() - t0;
    free(bufs);
    if (done < 0)
        return fail(mode, done);
    double secs = (double)ns / 1e9;
    char name[64];
    if (b.random) {
        metric_name(name, sizeof name, write ? "blk_rand4k_write" : "blk_rand4k_read", qd, "iops");
        printf("%s %.0f IOPS\n", name, (double)done / secs);
    } else {
        metric_name(name, sizeof name, write ? "blk_seq_write" : "blk_seq_read", qd, "mib_s");
        printf("%s %.1f MiB/s\n", name, (double)done * b.block * SECTOR / (1024.0 * 1024.0) / secs);
    }
    print_stages(&before);
    if (write)
        blk_flush(dev); /* not timed */
    return 0;
}

int main(void)
{
    char mode[16] = "info";
    domus_cmdline_get("mode", mode, sizeof mode);
    dev = (int)domus_cmdline_u64("dev", 0);
    uint64_t size_mb = domus_cmdline_u64("size_mb", 16);
    uint64_t block_kb = domus_cmdline_u64("block_kb", 64);
    uint64_t qd = domus_cmdline_u64("qd", 1);
    uint64_t seed = domus_cmdline_u64("seed", 1);
    uint64_t seconds = domus_cmdline_u64("seconds", 2);
    uint64_t loops = domus_cmdline_u64("loops", 1);

    if (blk_count() == 0) {
        printf("blk_tool: no block device\n");
        return 2;
    }
    int rc = blk_info(dev, &info);
    if (rc) {
        printf("blk_tool: FAIL no device %d (%d)\n", dev, rc);
        return 1;
    }
    if (qd < 1 || qd > MAX_QD || block_kb < 1 || block_kb > 4096 || size_mb < 1 || loops < 1
        || loops > 1024) {
        printf("blk_tool: FAIL bad qd, block_kb, size_mb or loops\n");
        return 1;
    }
    uint64_t sectors = size_mb * 2048;
    if (sectors > info.sectors)
        sectors = info.sectors;
    uint64_t block_sectors = block_kb * 2;

    if (!strcmp(mode, "crashwrite"))
        return crashwrite(sectors, block_sectors, seed, domus_cmdline_u64("flush_mb", 4));
    if (!strcmp(mode, "info")) {
        printf("blk_tool: %s (dev %d of %d): %" PRIu64 " sectors of 512 (%" PRIu64
               " MiB), sector-size %" PRIu32 ", %s, flush %d, discard %d, %" PRIu32
               " segments per request\n",
            info.name, dev, blk_count(), info.sectors, info.sectors / 2048, info.sector_size,
            info.read_only ? "read-only" : "read-write", info.flush, info.discard,
            info.max_segments);
        return 0;
    }
    if (!strcmp(mode, "verify"))
        return verify(sectors, block_sectors, seed);
    if (!strcmp(mode, "seqread") || !strcmp(mode, "seqwrite") || !strcmp(mode, "randread")
        || !strcmp(mode, "randwrite"))
        return bench(mode, sectors, block_sectors, (unsigned)qd, seed, seconds, loops);
    printf("blk_tool: FAIL unknown mode %s\n", mode);
    return 1;
}
