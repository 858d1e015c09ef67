/* blk_hostile: a malicious blkif frontend against the monitor's block backend.
 *
 * Needs two PV disks: xvda (51712) and xvdb (51728). xvdb's image must hold the pattern
 * of pattern_word() below in its first PATTERN_SECTORS sectors (the integration test
 * writes it); sectors from SCRATCH on are overwritten.
 *
 * Taking xvdb away from the kernel. The kernel's blkfront connects every device/vbd/<id>
 * at boot and has no call to release one. So, once blk_count() says the probe is over
 * (xvdb Connected with the kernel's ring), we write the frontend's state = 6 (Closed):
 * VbdDevice::frontend_changed disconnects the kernel's ring and sets the backend to
 * Closed, then InitWait. The kernel's backend-state watch may see the Closed and fail
 * its xvdb (it then writes our frontend state 5 and 6 itself), or may only see
 * InitWait and do nothing; either way it is done after a short pause, which we take
 * before checking that the frontend state is back at 6. Then we negotiate as any
 * frontend would: a zeroed ring page granted to the backend, an unbound event channel
 * for dom0, ring-ref/event-channel/protocol/state=3 in one transaction, wait for the
 * backend's 4, then state = 4. The kernel's blkfront keeps xvda.
 *
 * Our ring is driven by hand: requests are copied into slots, req_prod is published
 * with a release store and the port is notified every time; responses are polled
 * (rsp_prod, acquire) with a time limit, so a backend that stops answering is seen
 * and reported instead of hanging. After every hostile case a GOOD read of pattern
 * sectors (checked byte for byte) and a write + read-back of scratch sectors must work.
 *
 * Cases: 1 bad grants, 2 bad segments and sector ranges, 3 unknown ops and bad indirect
 * requests, 4 overlapping segments, 5 slot rewritten after publication (double fetch),
 * 6 req_prod far ahead (the backend must stop serving xvdb, xvda must keep working).
 * Prints "name value" counters, then "blk_hostile: PASS" (exit 0) or
 * "blk_hostile: FAIL <case>: <what>" (exit 1; later failures follow as "also"). */
#include <domus/abi/blkif.h>
#include <domus/block.h>
#include <domus/gnttab.h>
#include <domus/guest.h>
#include <domus/xenbus.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XVDB_DEVID 51728
#define PATTERN_SECTORS 1024u /* read-only pattern area of xvdb */
#define SCRATCH 2048u /* first sector we write to */
#define RING_SLOTS BLKIF_RING_SIZE_1PAGE
#define NR_PAGES 8
#define RESPONSE_MS 5000
#define SILENCE_MS 1500

static const char* fe_dir = "device/vbd/51728";
static char be_dir[128];
static uint64_t disk_sectors;
static uint32_t max_indirect;
static int discard_offered;

static struct {
    struct ring_sring_header* sring;
    union blkif_sring_entry* ent;
    grant_ref_t gref;
    evtchn_port_t port;
    RING_IDX prod; /* private req_prod */
    RING_IDX cons; /* responses taken */
} ring;

static uint8_t* page[NR_PAGES];
static grant_ref_t gref_rw[NR_PAGES]; /* page[i], read-write to dom0 */
static uint8_t* ro_page;
static grant_ref_t gref_ro; /* ro_page, read-only to dom0 */

static const char* current_case = "setup";
static int failures;
static int dead; /* the backend stopped answering outside case 6 */
static uint64_t next_id = 0xb10c000000000000ull;
static unsigned long long stat_requests, stat_ok, stat_error, stat_eopnotsupp;
static unsigned long long df_first, df_second, df_refused;

static void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char* fmt, ...)
{
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    printf("blk_hostile: %s %s: %s\n", failures++ ? "also" : "FAIL", current_case, what);
}

/* ---- xvdb's pattern -------------------------------------------------------------- */

static uint64_t pattern_word(uint64_t sector, unsigned i)
{
    return 0x5a5a000000000000ull + sector * 64 + i;
}

static int is_pattern(const uint8_t* p, uint64_t sector, unsigned nsect)
{
    for (unsigned s = 0; s < nsect; ++s)
        for (unsigned i = 0; i < 64; ++i) {
            uint64_t w;
            memcpy(&w, p + s * 512 + i * 8, 8);
            if (w != pattern_word(sector + s, i))
                return 0;
        }
    return 1;
}

static int is_filled(const uint8_t* p, uint8_t value, size_t len)
{
    for (size_t i = 0; i < len; ++i)
        if (p[i] != value)
            return 0;
    return 1;
}

/* ---- store ----------------------------------------------------------------------- */

static long read_num(const char* dir, const char* node)
{
    char path[192], value[32];
    snprintf(path, sizeof path, "%s/%s", dir, node);
    int n = xenbus_read(XBT_NIL, path, value, sizeof value);
    if (n <= 0 || (size_t)n >= sizeof value)
        return -1;
    return strtol(value, NULL, 10);
}

static int wait_state(const char* dir, long want, unsigned ms)
{
    uint64_t deadline = domus_monotonic_ns() + ms * 1000000ull;
    for (;;) {
        if (read_num(dir, "state") == want)
            return 1;
        if (domus_monotonic_ns() > deadline)
            return 0;
        domus_sleep_ms(5);
    }
}

/* ---- our ring -------------------------------------------------------------------- */

static void on_event(evtchn_port_t port, void* data) { (void)port, (void)data; }

/* Ring, grant, event channel, one transaction, backend Connected. 0 or -1. */
static int negotiate(void)
{
    uint8_t* p = aligned_alloc(4096, 4096);
    if (!p)
        return fail("no memory for the ring"), -1;
    memset(p, 0, 4096);
    ring.sring = (struct ring_sring_header*)p;
    ring.ent = (union blkif_sring_entry*)(p + sizeof(struct ring_sring_header));
    ring.sring->req_event = 1;
    ring.sring->rsp_event = 1;
    ring.prod = ring.cons = 0;
    int rc = gnttab_grant_access(0, p, 0);
    if (rc < 0)
        return fail("grant ring (%d)", rc), -1;
    ring.gref = (grant_ref_t)rc;
    rc = domus_evtchn_alloc_unbound(0, &ring.port);
    if (rc < 0)
        return fail("alloc_unbound (%d)", rc), -1;
    domus_evtchn_set_handler(ring.port, on_event, NULL);
    domus_evtchn_unmask(ring.port);
    for (int attempt = 0;; ++attempt) {
        xenbus_transaction_t tx;
        if ((rc = xenbus_transaction_start(&tx)) < 0)
            return fail("tx start (%d)", rc), -1;
        rc = xenbus_printf(tx, fe_dir, "ring-ref", "%u", ring.gref);
        if (!rc)
            rc = xenbus_printf(tx, fe_dir, "event-channel", "%u", ring.port);
        if (!rc)
            rc = xenbus_printf(tx, fe_dir, "protocol", "%s", "x86_64-abi");
        if (!rc)
            rc = xenbus_printf(tx, fe_dir, "state", "%d", XenbusStateInitialised);
        if (rc) {
            xenbus_transaction_end(tx, 1);
            return fail("tx write (%d)", rc), -1;
        }
        rc = xenbus_transaction_end(tx, 0);
        if (rc == 0)
            break;
        if (rc != -EAGAIN || attempt == 16)
            return fail("tx commit (%d)", rc), -1;
    }
    if (!wait_state(be_dir, XenbusStateConnected, 10000))
        return fail("backend not Connected (state %ld)", read_num(be_dir, "state")), -1;
    xenbus_printf(XBT_NIL, fe_dir, "state", "%d", XenbusStateConnected);
    return 0;
}

static void put(const void* req)
{
    memcpy(&ring.ent[ring.prod & (RING_SLOTS - 1)], req, sizeof(struct blkif_request));
    ++ring.prod;
}

static void kick_at(RING_IDX prod)
{
    /* Release: the slots are written before the index that publishes them. */
    __atomic_store_n(&ring.sring->req_prod, prod, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    domus_evtchn_notify(ring.port); /* always: spurious notifications are harmless */
}

static void kick(void) { kick_at(ring.prod); }

static int responses_within(unsigned n, unsigned ms)
{
    uint64_t deadline = domus_monotonic_ns() + ms * 1000000ull;
    for (;;) {
        RING_IDX prod = __atomic_load_n(&ring.sring->rsp_prod, __ATOMIC_ACQUIRE);
        if ((RING_IDX)(prod - ring.cons) >= n)
            return 1;
        if (domus_monotonic_ns() > deadline)
            return 0;
        domus_sleep_us(100);
    }
}

static struct blkif_response take(void)
{
    struct blkif_response rsp;
    memcpy(&rsp, &ring.ent[ring.cons & (RING_SLOTS - 1)], sizeof rsp);
    ++ring.cons;
    ring.sring->rsp_event = ring.cons + 1;
    return rsp;
}

/* Sends one request (any of the 112-byte layouts; its id is set here) and returns the
 * response status, or 1 when the backend did not answer (then `dead`). */
static int submit(void* req)
{
    if (dead)
        return 1;
    uint64_t id = next_id++;
    memcpy((uint8_t*)req + 8, &id, 8); /* id sits at offset 8 in every layout */
    uint8_t op = *(uint8_t*)req;
    put(req);
    kick();
    ++stat_requests;
    if (!responses_within(1, RESPONSE_MS)) {
        fail("no response to op %u (backend stopped?)", op);
        dead = 1;
        return 1;
    }
    struct blkif_response rsp = take();
    if (rsp.id != id || rsp.operation != op)
        fail("response id %#llx op %u for request %#llx op %u", (unsigned long long)rsp.id,
            rsp.operation, (unsigned long long)id, op);
    if (rsp.status == BLKIF_RSP_OKAY)
        ++stat_ok;
    else if (rsp.status == BLKIF_RSP_ERROR)
        ++stat_error;
    else if (rsp.status == BLKIF_RSP_EOPNOTSUPP)
        ++stat_eopnotsupp;
    return rsp.status;
}

static void expect(void* req, int want, const char* what)
{
    int got = submit(req);
    if (got != want && got != 1)
        fail("%s: status %d, want %d", what, got, want);
}

/* A read/write of nseg whole pages page[0..nseg-1] starting at `sector`. */
static struct blkif_request rw(uint8_t op, uint64_t sector, unsigned nseg)
{
    struct blkif_request r;
    memset(&r, 0, sizeof r);
    r.operation = op;
    r.nr_segments = (uint8_t)nseg;
    r.handle = 0;
    r.sector_number = sector;
    for (unsigned i = 0; i < nseg && i < BLKIF_MAX_SEGMENTS_PER_REQUEST; ++i) {
        r.seg[i].gref = gref_rw[i % NR_PAGES];
        r.seg[i].first_sect = 0;
        r.seg[i].last_sect = 7;
    }
    return r;
}

/* After each case: the backend still reads the right data and writes what it is given. */
static unsigned good_round;
static void good(void)
{
    if (dead)
        return;
    ++good_round;
    uint64_t s = (good_round * 40) % (PATTERN_SECTORS - 8);
    memset(page[0], 0xee, 4096);
    struct blkif_request r = rw(BLKIF_OP_READ, s, 1);
    int st = submit(&r);
    if (st == 1)
        return;
    if (st != BLKIF_RSP_OKAY)
        fail("good read of sector %llu: status %d", (unsigned long long)s, st);
    else if (!is_pattern(page[0], s, 8))
        fail("good read of sector %llu: wrong data", (unsigned long long)s);

    uint64_t w = SCRATCH + (good_round % 64) * 8;
    memset(page[0], (int)(0x40 + good_round % 64), 4096);
    r = rw(BLKIF_OP_WRITE, w, 1);
    if ((st = submit(&r)) != BLKIF_RSP_OKAY) {
        if (st != 1)
            fail("good write: status %d", st);
        return;
    }
    memset(page[0], 0, 4096);
    r = rw(BLKIF_OP_READ, w, 1);
    if ((st = submit(&r)) != BLKIF_RSP_OKAY) {
        if (st != 1)
            fail("good read-back: status %d", st);
        return;
    }
    if (!is_filled(page[0], (uint8_t)(0x40 + good_round % 64), 4096))
        fail("good read-back: wrong data");
}

/* A ref of our table that is not granted at all (flags 0), looking from the top. */
static grant_ref_t free_ref(void)
{
    for (unsigned ref = gnttab_nr_entries(); ref-- > GNTTAB_NR_RESERVED_ENTRIES;) {
        struct grant_entry_v1 e;
        if (gnttab_query(ref, &e) == 0 && e.flags == 0)
            return ref;
    }
    return 2; /* reserved and never granted */
}

/* A one-page read into `ref` and a write from it, both of which the backend must refuse;
 * `what` names the ref ("a grant for d5"). */
static void expect_refused(grant_ref_t ref, const char* what)
{
    char msg[96];
    struct blkif_request r = rw(BLKIF_OP_READ, 8, 1);
    r.seg[0].gref = ref;
    snprintf(msg, sizeof msg, "read into %s", what);
    expect(&r, BLKIF_RSP_ERROR, msg);
    r.operation = BLKIF_OP_WRITE;
    r.sector_number = SCRATCH;
    snprintf(msg, sizeof msg, "write from %s", what);
    expect(&r, BLKIF_RSP_ERROR, msg);
}

/* ---- case 1: grants -------------------------------------------------------------- */

static void case_grants(void)
{
    current_case = "1 bad grants";
    struct blkif_request r;
    grant_ref_t bogus[] = { gnttab_nr_entries(), gnttab_nr_entries() + 1, 0x7fffffffu, 0xffffffffu,
        DOMUS_GNTTAB_MAX_FRAMES * 512u, free_ref(), 2 /* reserved, unused */ };
    for (unsigned i = 0; i < sizeof bogus / sizeof bogus[0]; ++i) {
        expect_refused(bogus[i], "an invalid/ungranted ref");
        /* a bad ref in the last of several segments */
        r = rw(BLKIF_OP_READ, 16, 5);
        r.seg[4].gref = bogus[i];
        expect(&r, BLKIF_RSP_ERROR, "bad ref in the 5th segment");
    }
    good();

    /* Granted, but to domain 5. */
    int other = gnttab_grant_access(5, page[7], 0);
    if (other < 0)
        fail("grant to d5 (%d)", other);
    else {
        expect_refused((grant_ref_t)other, "a grant for d5");
        if (gnttab_end_access((grant_ref_t)other) != 0)
            fail("end_access of the d5 grant");
    }
    good();

    /* Granted to dom0, then revoked. */
    int revoked = gnttab_grant_access(0, page[7], 0);
    if (revoked < 0)
        fail("grant (%d)", revoked);
    else {
        r = rw(BLKIF_OP_READ, 8, 1);
        r.seg[0].gref = (grant_ref_t)revoked;
        memset(page[7], 0xee, 4096);
        expect(&r, BLKIF_RSP_OKAY, "read into a fresh grant");
        if (!is_pattern(page[7], 8, 8))
            fail("read into a fresh grant: wrong data");
        int rc = gnttab_end_access((grant_ref_t)revoked);
        if (rc != 0)
            fail("end_access after use: %d (grant left in use?)", rc);
        memset(page[7], 0xee, 4096);
        expect_refused((grant_ref_t)revoked, "a revoked grant");
        if (!is_filled(page[7], 0xee, 4096))
            fail("revoked page was written");
    }
    good();

    /* Read-only grant: fine as the source of a WRITE, refused as the target of a READ. */
    memset(ro_page, 0xee, 4096);
    r = rw(BLKIF_OP_READ, 8, 1);
    r.seg[0].gref = gref_ro;
    expect(&r, BLKIF_RSP_ERROR, "read into a read-only grant");
    if (!is_filled(ro_page, 0xee, 4096))
        fail("read-only page was written");
    r = rw(BLKIF_OP_READ, 8, 3);
    r.seg[1].gref = gref_ro;
    expect(&r, BLKIF_RSP_ERROR, "read with a read-only grant in segment 2");
    if (!is_filled(ro_page, 0xee, 4096))
        fail("read-only page was written");
    memset(ro_page, 0x3c, 4096);
    r = rw(BLKIF_OP_WRITE, SCRATCH + 512, 1);
    r.seg[0].gref = gref_ro;
    expect(&r, BLKIF_RSP_OKAY, "write from a read-only grant");
    memset(page[1], 0, 4096);
    r = rw(BLKIF_OP_READ, SCRATCH + 512, 1);
    r.seg[0].gref = gref_rw[1];
    expect(&r, BLKIF_RSP_OKAY, "read back the read-only grant's write");
    if (!is_filled(page[1], 0x3c, 4096))
        fail("write from a read-only grant: wrong data");
    good();
}

/* ---- case 2: segments and ranges ------------------------------------------------------ */

static void case_segments(void)
{
    current_case = "2 bad segments/ranges";
    struct blkif_request r;
    static const uint8_t firsts[] = { 3, 7, 8, 0, 9, 255, 0 };
    static const uint8_t lasts[] = { 2, 0, 8, 8, 9, 255, 255 };
    for (unsigned i = 0; i < sizeof firsts; ++i) {
        for (unsigned which = 0; which < 2; ++which) { /* the first or the last segment */
            r = rw(BLKIF_OP_READ, 24, 3);
            r.seg[which ? 2 : 0].first_sect = firsts[i];
            r.seg[which ? 2 : 0].last_sect = lasts[i];
            memset(page[0], 0xee, 4096);
            expect(&r, BLKIF_RSP_ERROR, "read with a bad first/last_sect");
            if (!is_filled(page[0], 0xee, 4096))
                fail("refused read wrote the page");
            r.operation = BLKIF_OP_WRITE;
            r.sector_number = SCRATCH;
            expect(&r, BLKIF_RSP_ERROR, "write with a bad first/last_sect");
        }
    }
    good();

    static const uint8_t counts[] = { 0, 12, 13, 32, 255 };
    for (unsigned i = 0; i < sizeof counts; ++i) {
        r = rw(BLKIF_OP_READ, 8, BLKIF_MAX_SEGMENTS_PER_REQUEST);
        r.nr_segments = counts[i];
        expect(&r, BLKIF_RSP_ERROR, "read with a bad nr_segments");
        r.operation = BLKIF_OP_WRITE;
        r.sector_number = SCRATCH;
        expect(&r, BLKIF_RSP_ERROR, "write with a bad nr_segments");
        if (counts[i]) {
            r.operation = BLKIF_OP_WRITE_BARRIER;
            expect(&r, BLKIF_RSP_ERROR, "barrier with a bad nr_segments");
            r.operation = BLKIF_OP_FLUSH_DISKCACHE;
            expect(&r, BLKIF_RSP_ERROR, "flush with a bad nr_segments");
        }
    }
    /* 11 segments is the maximum and fine. */
    r = rw(BLKIF_OP_READ, 88, BLKIF_MAX_SEGMENTS_PER_REQUEST);
    expect(&r, BLKIF_RSP_OKAY, "read with 11 segments");
    good();

    /* Sector ranges. */
    const uint64_t n = disk_sectors;
    struct {
        uint64_t sector;
        unsigned nseg;
        int want;
    } ranges[] = {
        { n - 1, 1, BLKIF_RSP_ERROR }, /* 8 sectors from the last one */
        { n - 8, 1, BLKIF_RSP_OKAY }, /* exactly the last page */
        { n, 1, BLKIF_RSP_ERROR }, /* at the end */
        { n + 1, 1, BLKIF_RSP_ERROR },
        { n - 8 * 10, 11, BLKIF_RSP_ERROR }, /* 88 sectors, 8 past the end */
        { UINT64_MAX, 1, BLKIF_RSP_ERROR }, /* sector + count wraps */
        { UINT64_MAX - 7, 1, BLKIF_RSP_ERROR }, /* ends exactly at 2^64 */
        { UINT64_MAX - 80, 11, BLKIF_RSP_ERROR },
        { UINT64_MAX / 512 + 1, 1, BLKIF_RSP_ERROR }, /* byte offset wraps */
        { (UINT64_MAX / 512) & ~7ull, 1, BLKIF_RSP_ERROR },
        { 1ull << 63, 1, BLKIF_RSP_ERROR },
    };
    for (unsigned i = 0; i < sizeof ranges / sizeof ranges[0]; ++i) {
        r = rw(BLKIF_OP_READ, ranges[i].sector, ranges[i].nseg);
        expect(&r, ranges[i].want, "read range");
        /* writes only where a refusal is expected: never past the pattern area's check */
        if (ranges[i].want == BLKIF_RSP_ERROR) {
            r.operation = BLKIF_OP_WRITE;
            expect(&r, BLKIF_RSP_ERROR, "write range");
            r.operation = BLKIF_OP_WRITE_BARRIER;
            expect(&r, BLKIF_RSP_ERROR, "barrier write range");
        }
    }
    /* Partial sectors: the last sector of the disk alone. */
    r = rw(BLKIF_OP_READ, n - 1, 1);
    r.seg[0].first_sect = 7;
    expect(&r, BLKIF_RSP_OKAY, "read of the last sector");
    r.sector_number = n;
    expect(&r, BLKIF_RSP_ERROR, "read of the sector after the last");
    /* A pure flush (no segments) is served; its sector number means nothing, but Domus
     * range-checks it (Xen's vbd_translate skips the check for zero sectors), so a
     * flush "at" a sector past the end may be refused: either answer is fine. */
    memset(&r, 0, sizeof r);
    r.operation = BLKIF_OP_FLUSH_DISKCACHE;
    expect(&r, BLKIF_RSP_OKAY, "flush");
    r.operation = BLKIF_OP_WRITE_BARRIER;
    expect(&r, BLKIF_RSP_OKAY, "barrier without data");
    r.sector_number = UINT64_MAX;
    int st = submit(&r);
    if (st != BLKIF_RSP_OKAY && st != BLKIF_RSP_ERROR && st != 1)
        fail("flush at sector 2^64-1: status %d", st);
    printf("blk_hostile_flush_past_end_status %d\n", st);
    good();
}

/* ---- case 3: operations and indirect requests ------------------------------------------- */

static struct blkif_request_indirect indirect(uint8_t op, uint64_t sector, uint16_t nseg)
{
    struct blkif_request_indirect r;
    memset(&r, 0, sizeof r);
    r.operation = BLKIF_OP_INDIRECT;
    r.indirect_op = op;
    r.nr_segments = nseg;
    r.sector_number = sector;
    r.indirect_grefs[0] = gref_ro; /* ro_page holds the segment list */
    return r;
}

static void set_segments(unsigned nseg)
{
    struct blkif_request_segment* seg = (struct blkif_request_segment*)ro_page;
    memset(ro_page, 0, 4096);
    for (unsigned i = 0; i < nseg && i < BLKIF_SEGMENTS_PER_INDIRECT_FRAME; ++i) {
        seg[i].gref = gref_rw[i % 4];
        seg[i].first_sect = 0;
        seg[i].last_sect = 7;
    }
}

static void case_ops(void)
{
    current_case = "3 unknown ops/indirect";
    struct blkif_request r;
    static const uint8_t ops[] = { 4, 7, 8, 9, 42, 127, 128, 200, 255 };
    for (unsigned i = 0; i < sizeof ops; ++i) {
        r = rw(ops[i], 8, 1);
        expect(&r, BLKIF_RSP_EOPNOTSUPP, "unknown operation");
        r.nr_segments = 0;
        expect(&r, BLKIF_RSP_EOPNOTSUPP, "unknown operation without segments");
    }
    if (!discard_offered) {
        struct blkif_request_discard d;
        memset(&d, 0, sizeof d);
        d.operation = BLKIF_OP_DISCARD;
        d.sector_number = SCRATCH;
        d.nr_sectors = 8;
        expect(&d, BLKIF_RSP_EOPNOTSUPP, "discard not advertised");
    }
    good();

    if (max_indirect == 0) {
        struct blkif_request_indirect in = indirect(BLKIF_OP_READ, 8, 1);
        expect(&in, BLKIF_RSP_EOPNOTSUPP, "indirect not advertised");
        good();
        return;
    }
    /* A good indirect read first, so the refusals below mean something. */
    set_segments(3);
    for (unsigned i = 0; i < 3; ++i)
        memset(page[i], 0xee, 4096);
    struct blkif_request_indirect in = indirect(BLKIF_OP_READ, 48, 3);
    expect(&in, BLKIF_RSP_OKAY, "good indirect read");
    for (unsigned i = 0; i < 3; ++i)
        if (!is_pattern(page[i], 48 + 8 * i, 8))
            fail("good indirect read: wrong data in page %u", i);

    static const uint8_t bad_ops[] = { BLKIF_OP_WRITE_BARRIER, BLKIF_OP_FLUSH_DISKCACHE,
        BLKIF_OP_DISCARD, BLKIF_OP_INDIRECT, 99, 255 };
    for (unsigned i = 0; i < sizeof bad_ops; ++i) {
        in = indirect(bad_ops[i], 8, 1);
        expect(&in, BLKIF_RSP_EOPNOTSUPP, "indirect with a bad indirect_op");
    }
    uint16_t bad_counts[] = { 0, (uint16_t)(max_indirect + 1), 512, 513, 4096, 4097, 65535 };
    for (unsigned i = 0; i < sizeof bad_counts / sizeof bad_counts[0]; ++i) {
        set_segments(512);
        in = indirect(BLKIF_OP_READ, 8, bad_counts[i]);
        for (unsigned p = 1; p < BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST; ++p)
            in.indirect_grefs[p] = gref_ro;
        expect(&in, BLKIF_RSP_ERROR, "indirect with nr_segments 0 or > max");
    }
    good();

    /* Bogus indirect grefs. */
    int d5 = gnttab_grant_access(5, page[7], 1);
    grant_ref_t bogus[]
        = { 0xffffffffu, gnttab_nr_entries(), free_ref(), 2, d5 < 0 ? 3 : (grant_ref_t)d5 };
    set_segments(BLKIF_SEGMENTS_PER_INDIRECT_FRAME);
    for (unsigned i = 0; i < sizeof bogus / sizeof bogus[0]; ++i) {
        in = indirect(BLKIF_OP_READ, 8, 2);
        in.indirect_grefs[0] = bogus[i];
        expect(&in, BLKIF_RSP_ERROR, "indirect page ref invalid");
        in.indirect_op = BLKIF_OP_WRITE;
        in.sector_number = SCRATCH;
        expect(&in, BLKIF_RSP_ERROR, "indirect page ref invalid (write)");
    }
    if (d5 >= 0)
        gnttab_end_access((grant_ref_t)d5);
    good();

    /* A valid indirect page with bad contents. */
    struct blkif_request_segment* seg = (struct blkif_request_segment*)ro_page;
    set_segments(8);
    seg[5].first_sect = 5, seg[5].last_sect = 4;
    in = indirect(BLKIF_OP_READ, 8, 8);
    expect(&in, BLKIF_RSP_ERROR, "indirect segment first > last");
    set_segments(8);
    seg[7].last_sect = 8;
    expect(&in, BLKIF_RSP_ERROR, "indirect segment last_sect 8");
    set_segments(8);
    seg[3].gref = 0xfffffff0u;
    expect(&in, BLKIF_RSP_ERROR, "indirect segment with a bogus data ref");
    set_segments(8);
    seg[0].gref = gref_ro; /* read into the (read-only) indirect page itself */
    expect(&in, BLKIF_RSP_ERROR, "indirect read into a read-only data grant");
    set_segments(max_indirect);
    in = indirect(BLKIF_OP_READ, disk_sectors - 8ull * max_indirect + 8, (uint16_t)max_indirect);
    expect(&in, BLKIF_RSP_ERROR, "indirect range past the end");
    in.sector_number = UINT64_MAX - 8;
    expect(&in, BLKIF_RSP_ERROR, "indirect range wrapping");
    /* The maximum is served (all segments overlap on 4 pages). */
    in = indirect(BLKIF_OP_READ, 0, (uint16_t)max_indirect);
    if (8ull * max_indirect <= disk_sectors)
        expect(&in, BLKIF_RSP_OKAY, "indirect read of max segments");
    good();
}

/* ---- case 4: overlapping segments ------------------------------------------------------- */

static void served_or_refused(void* req, const char* what)
{
    int st = submit(req);
    if (st != BLKIF_RSP_OKAY && st != BLKIF_RSP_ERROR && st != 1)
        fail("%s: status %d", what, st);
}

static void case_overlap(void)
{
    current_case = "4 overlapping segments";
    struct blkif_request r = rw(BLKIF_OP_READ, 64, 2);
    r.seg[1].gref = r.seg[0].gref;
    memset(page[0], 0xee, 4096);
    served_or_refused(&r, "two segments, one page");
    r = rw(BLKIF_OP_READ, 64, 2);
    r.seg[0].gref = r.seg[1].gref = gref_rw[0];
    r.seg[0].first_sect = 0, r.seg[0].last_sect = 5;
    r.seg[1].first_sect = 2, r.seg[1].last_sect = 7;
    served_or_refused(&r, "partially overlapping segments");
    r = rw(BLKIF_OP_READ, 96, BLKIF_MAX_SEGMENTS_PER_REQUEST);
    for (unsigned i = 0; i < BLKIF_MAX_SEGMENTS_PER_REQUEST; ++i)
        r.seg[i].gref = gref_rw[0];
    served_or_refused(&r, "eleven segments, one page");
    r.operation = BLKIF_OP_WRITE;
    r.sector_number = SCRATCH + 256;
    served_or_refused(&r, "eleven segments, one page (write)");
    /* The ring page itself as a data page (the backend has it mapped already), in its
     * slot area, written by a WRITE only: a READ would overwrite our own ring. */
    r = rw(BLKIF_OP_WRITE, SCRATCH + 384, 1);
    r.seg[0].gref = ring.gref;
    r.seg[0].first_sect = 4;
    served_or_refused(&r, "the ring page as a data page (write)");
    if (max_indirect) {
        /* The indirect page as one of its own data pages (read-only grant: write only). */
        set_segments(4);
        ((struct blkif_request_segment*)ro_page)[2].gref = gref_ro;
        struct blkif_request_indirect in = indirect(BLKIF_OP_WRITE, SCRATCH + 448, 4);
        served_or_refused(&in, "indirect page as its own data page");
    }
    good();
}

/* ---- case 5: rewriting a published slot -------------------------------------------------- */

static void case_double_fetch(void)
{
    current_case = "5 double fetch";
    for (unsigned it = 0; it < 400 && !dead; ++it) {
        unsigned flavor = it % 6;
        uint64_t s = (it * 8) % (PATTERN_SECTORS - 16);
        memset(page[0], 0xee, 4096);
        memset(page[1], 0xee, 4096);
        struct blkif_request r = rw(BLKIF_OP_READ, s, 1);
        uint64_t id = next_id++;
        r.id = id;
        volatile struct blkif_request* slot = &ring.ent[ring.prod & (RING_SLOTS - 1)].req;
        put(&r);
        kick();
        ++stat_requests;
        for (volatile unsigned k = 0; k < (it * 97) % 3000; ++k) { }
        /* Only fields past the first 16 bytes: the response overwrites those. */
        switch (flavor) {
        case 0:
            slot->sector_number = s + 8;
            break;
        case 1:
            slot->sector_number = disk_sectors + 1000;
            break;
        case 2:
            slot->seg[0].gref = gref_rw[1];
            break;
        case 3:
            slot->seg[0].gref = 0xffffff00u;
            break;
        case 4:
            slot->seg[0].last_sect = 200;
            break;
        case 5:
            slot->seg[0].first_sect = 9;
            break;
        }
        if (!responses_within(1, RESPONSE_MS)) {
            fail("no response");
            dead = 1;
            break;
        }
        struct blkif_response rsp = take();
        if (rsp.id != id || rsp.operation != BLKIF_OP_READ)
            fail("response id/op mismatch");
        int first = is_pattern(page[0], s, 8) && is_filled(page[1], 0xee, 4096);
        int untouched = is_filled(page[0], 0xee, 4096) && is_filled(page[1], 0xee, 4096);
        int second = flavor == 0 ? is_pattern(page[0], s + 8, 8) && is_filled(page[1], 0xee, 4096)
            : flavor == 2        ? is_pattern(page[1], s, 8) && is_filled(page[0], 0xee, 4096)
                                 : 0;
        if (rsp.status == BLKIF_RSP_OKAY) {
            ++stat_ok;
            if (first)
                ++df_first;
            else if (second)
                ++df_second;
            else
                fail("flavor %u: served, but the data matches neither version", flavor);
        } else if (rsp.status == BLKIF_RSP_ERROR && flavor != 0 && flavor != 2) {
            ++stat_error;
            ++df_refused;
            if (!untouched)
                fail("flavor %u: refused, but pages were written", flavor);
        } else {
            fail("flavor %u: status %d", flavor, rsp.status);
        }
        if (it % 50 == 49)
            good();
    }
    good();
}

/* ---- case 6: bogus ring indices ------------------------------------------------------ */

static int xvda_works(int dev, unsigned round)
{
    static uint8_t buf[4096], back[4096];
    for (unsigned i = 0; i < sizeof buf; ++i)
        buf[i] = (uint8_t)(i * 13 + round);
    memset(back, 0, sizeof back);
    int rc = blk_write(dev, 64 + round * 8, 8, buf);
    if (rc == 0)
        rc = blk_read(dev, 64 + round * 8, 8, back);
    if (rc != 0)
        return fail("xvda I/O: %d", rc), 0;
    if (memcmp(buf, back, sizeof buf) != 0)
        return fail("xvda read-back differs"), 0;
    return 1;
}

static void case_ring_indices(int xvda)
{
    current_case = "6 bogus ring indices";
    if (dead)
        return;
    /* req_prod far ahead of anything the ring can hold. */
    struct blkif_request r = rw(BLKIF_OP_READ, 8, 1);
    put(&r);
    kick_at(ring.cons + 1000);
    if (responses_within(1, SILENCE_MS))
        fail("answered with req_prod 1000 ahead");
    /* Back to a sane index with a good request: the backend must have stopped. */
    r = rw(BLKIF_OP_READ, 8, 1);
    ring.prod = ring.cons;
    put(&r);
    kick();
    if (responses_within(1, SILENCE_MS))
        fail("still serving after a bogus req_prod");
    printf("blk_hostile_backend_state_after_stop %ld\n", read_num(be_dir, "state"));
    if (read_num(be_dir, "sectors") != (long)disk_sectors)
        fail("xvdb backend directory gone");
    current_case = "6 xvda after the attack";
    xvda_works(xvda, 2);
}

/* ---- main ---------------------------------------------------------------------------- */

int main(void)
{
    int count = blk_count(); /* waits for the kernel's probe: xvdb is the kernel's now */
    int xvda = -1, xvdb = -1;
    for (int i = 0; i < count; ++i) {
        struct blk_info info;
        if (blk_info(i, &info) != 0)
            continue;
        if (!strcmp(info.name, "xvda"))
            xvda = i;
        if (!strcmp(info.name, "xvdb"))
            xvdb = i;
    }
    if (xvda < 0 || xvdb < 0) {
        printf("blk_hostile: FAIL setup: need xvda and xvdb (%d devices)\n", count);
        return 1;
    }
    if (!xvda_works(xvda, 0))
        return 1;

    /* Take xvdb from the kernel: see the header comment. */
    char path[96];
    snprintf(path, sizeof path, "%s/backend", fe_dir);
    int n = xenbus_read(XBT_NIL, path, be_dir, sizeof be_dir);
    if (n <= 0 || (size_t)n >= sizeof be_dir)
        return fail("no backend path"), 1;
    if (read_num(be_dir, "state") != XenbusStateConnected)
        return fail("xvdb not Connected at start"), 1;
    xenbus_printf(XBT_NIL, fe_dir, "state", "%d", XenbusStateClosed);
    if (!wait_state(be_dir, XenbusStateInitWait, 10000))
        return fail("backend did not go back to InitWait (%ld)", read_num(be_dir, "state")), 1;
    domus_sleep_ms(300); /* the kernel's watch on the backend state runs meanwhile */
    if (!wait_state(fe_dir, XenbusStateClosed, 5000))
        return fail("frontend state did not settle at Closed (%ld)", read_num(fe_dir, "state")), 1;
    disk_sectors = (uint64_t)read_num(be_dir, "sectors");
    long mi = read_num(be_dir, "feature-max-indirect-segments");
    max_indirect = mi > 0 ? (uint32_t)(mi > 512 ? 512 : mi) : 0;
    discard_offered = read_num(be_dir, "feature-discard") == 1;
    if (disk_sectors < SCRATCH + 1024)
        return fail("xvdb too small (%llu sectors)", (unsigned long long)disk_sectors), 1;

    for (int i = 0; i < NR_PAGES; ++i) {
        page[i] = aligned_alloc(4096, 4096);
        if (!page[i])
            return fail("no memory"), 1;
        int rc = gnttab_grant_access(0, page[i], 0);
        if (rc < 0)
            return fail("grant (%d)", rc), 1;
        gref_rw[i] = (grant_ref_t)rc;
    }
    ro_page = aligned_alloc(4096, 4096);
    if (!ro_page)
        return fail("no memory"), 1;
    int rc = gnttab_grant_access(0, ro_page, 1);
    if (rc < 0)
        return fail("grant (%d)", rc), 1;
    gref_ro = (grant_ref_t)rc;

    if (negotiate() != 0)
        return 1;
    current_case = "0 baseline";
    good();
    if (!dead)
        case_grants();
    if (!dead)
        case_segments();
    if (!dead)
        case_ops();
    if (!dead)
        case_overlap();
    if (!dead)
        case_double_fetch();
    current_case = "xvda before case 6";
    xvda_works(xvda, 1);
    case_ring_indices(xvda);

    printf("blk_hostile_requests %llu\n", stat_requests);
    printf("blk_hostile_ok %llu\n", stat_ok);
    printf("blk_hostile_error %llu\n", stat_error);
    printf("blk_hostile_eopnotsupp %llu\n", stat_eopnotsupp);
    printf("blk_hostile_double_fetch_first %llu\n", df_first);
    printf("blk_hostile_double_fetch_second %llu\n", df_second);
    printf("blk_hostile_double_fetch_refused %llu\n", df_refused);
    if (failures)
        return 1;
    printf("blk_hostile: PASS\n");
    return 0;
}
