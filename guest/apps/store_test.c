/* store_test: self-test of the kernel's xenstore client against the real store. Works
 * under data/store_test in its own home (which must be writable: the toolstack creates
 * data/ owned by the domain). Prints "store_test: PASS" (exit 0) or
 * "store_test: FAIL <what>" (exit 1); with no store "store_test: SKIP no store" (exit 0).
 * Command line: verbose=1 prints each step. */
#include <domus/guest.h>
#include <domus/xenbus.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE "data/store_test"
#define CONC_THREADS 8
#define CONC_ROUNDS 100 /* each round is a write and a read: 200 requests per thread */
#define TX_THREADS 2
#define TX_INCREMENTS 20

static int verbose;
static int failures;

static void step(const char* what)
{
    if (verbose) {
        printf("store_test: %s\n", what);
        fflush(stdout);
    }
}

static void fail(const char* what, int rc)
{
    if (!failures++) {
        printf("store_test: FAIL %s (result %d)\n", what, rc);
        fflush(stdout);
    }
}

#define CHECK(cond, what, rc)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fail((what), (int)(rc));                                                               \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Waits up to timeout_ms for a unit of s (the test's own deadline; the client itself
 * never polls). */
static int sem_wait_ms(domus_sem_t* s, unsigned timeout_ms)
{
    for (unsigned waited = 0; waited <= timeout_ms; ++waited) {
        if (domus_sem_trydown(s))
            return 1;
        domus_sleep_ms(1);
    }
    return 0;
}

static void test_basic(void)
{
    char buf[256];
    step("write/read");
    int rc = xenbus_write(XBT_NIL, BASE "/a", "hello");
    CHECK(rc == 0, "write " BASE "/a", rc);
    rc = xenbus_read(XBT_NIL, BASE "/a", buf, sizeof buf);
    CHECK(rc == 5 && strcmp(buf, "hello") == 0, "read back " BASE "/a", rc);
    rc = xenbus_read(XBT_NIL, BASE "/a", buf, 3);
    CHECK(rc == 5 && strcmp(buf, "he") == 0, "truncated read", rc);
    rc = xenbus_printf(XBT_NIL, BASE, "num", "%d-%s-%llu", 42, "x", 123456789012ull);
    CHECK(rc == 0, "printf", rc);
    rc = xenbus_read(XBT_NIL, BASE "/num", buf, sizeof buf);
    CHECK(rc > 0 && strcmp(buf, "42-x-123456789012") == 0, "printf read back", rc);

    step("directory");
    static const char* const names[] = { "x", "y", "zz" };
    for (int i = 0; i < 3; ++i) {
        char path[64];
        snprintf(path, sizeof path, BASE "/d/%s", names[i]);
        rc = xenbus_write(XBT_NIL, path, names[i]);
        CHECK(rc == 0, "write " BASE "/d/*", rc);
    }
    rc = xenbus_directory(XBT_NIL, BASE "/d", buf, sizeof buf);
    CHECK(rc == 3, "directory count", rc);
    int seen = 0;
    for (const char* p = buf; p < buf + 3 * 3 && *p; p += strlen(p) + 1)
        for (int i = 0; i < 3; ++i)
            if (strcmp(p, names[i]) == 0)
                seen |= 1 << i;
    CHECK(seen == 7, "directory names", seen);
    rc = xenbus_directory(XBT_NIL, BASE "/d", buf, 4);
    CHECK(rc == -ERANGE, "directory into a small buffer", rc);
    rc = xenbus_directory(XBT_NIL, BASE "/d/x", buf, sizeof buf);
    CHECK(rc == 0 && buf[0] == '\0', "directory of a leaf", rc);

    step("perms");
    rc = xenbus_get_perms(XBT_NIL, BASE "/a", buf, sizeof buf);
    CHECK(rc > 0 && buf[0] == 'n', "get_perms", rc);
    char owner[16];
    size_t olen = strcspn(buf, " ");
    if (olen >= sizeof owner)
        olen = sizeof owner - 1;
    memcpy(owner, buf, olen);
    owner[olen] = '\0';
    char perms[40];
    snprintf(perms, sizeof perms, "%s r0", owner);
    rc = xenbus_set_perms(XBT_NIL, BASE "/a", perms);
    CHECK(rc == 0, "set_perms", rc);
    rc = xenbus_get_perms(XBT_NIL, BASE "/a", buf, sizeof buf);
    CHECK(rc > 0 && strcmp(buf, perms) == 0, "get_perms after set_perms", rc);

    step("rm, ENOENT, EACCES, E2BIG");
    rc = xenbus_rm(XBT_NIL, BASE "/d");
    CHECK(rc == 0, "rm " BASE "/d", rc);
    rc = xenbus_read(XBT_NIL, BASE "/d/x", buf, sizeof buf);
    CHECK(rc == -ENOENT, "read after rm gives ENOENT", rc);
    rc = xenbus_read(XBT_NIL, BASE "/no/such/node", buf, sizeof buf);
    CHECK(rc == -ENOENT, "read of a missing node gives ENOENT", rc);
    rc = xenbus_write(XBT_NIL, "/local/domain/0/x", "intruder");
    CHECK(rc == -EACCES, "write outside home gives EACCES", rc);
    rc = xenbus_read(XBT_NIL, "bad path!", buf, sizeof buf);
    CHECK(rc == -EINVAL, "bad path gives EINVAL", rc);
    static char huge[5000];
    memset(huge, 'h', sizeof huge - 1);
    rc = xenbus_write(XBT_NIL, BASE "/huge", huge);
    CHECK(rc == -E2BIG, "oversized request refused locally", rc);
    rc = xenbus_mkdir(XBT_NIL, BASE "/m/n");
    CHECK(rc == 0, "mkdir", rc);
    rc = xenbus_read(XBT_NIL, BASE "/m/n", buf, sizeof buf);
    CHECK(rc == 0, "read of a new directory", rc);
}

static void test_big_values(void)
{
    /* Both directions carry messages bigger than the 1024-byte ring. */
    step("big values");
    static char big[4001], back[4100];
    for (int i = 0; i < 4000; ++i)
        big[i] = (char)('a' + i % 26);
    big[4000] = '\0';
    int rc = xenbus_write(XBT_NIL, BASE "/big", big);
    if (rc == -ENOSPC) {
        /* The store's node-size quota (2048 bytes for guests, as in C xenstored). */
        printf(
            "store_test: 4000-byte value refused by the node-size quota (ENOSPC); trying 2000\n");
        big[2000] = '\0';
        rc = xenbus_write(XBT_NIL, BASE "/big", big);
    }
    CHECK(rc == 0, "write big value", rc);
    size_t len = strlen(big);
    rc = xenbus_read(XBT_NIL, BASE "/big", back, sizeof back);
    CHECK(rc == (int)len && memcmp(back, big, len) == 0, "read back big value", rc);
}

struct watch_seen {
    domus_sem_t events;
    domus_mutex_t lock;
    char last[128];
};

static void on_watch(const char* path, const char* token, void* arg)
{
    struct watch_seen* w = arg;
    (void)token;
    domus_mutex_lock(&w->lock);
    snprintf(w->last, sizeof w->last, "%s", path);
    domus_mutex_unlock(&w->lock);
    /* Callbacks may use xenbus themselves. */
    char buf[8];
    xenbus_read(XBT_NIL, BASE "/a", buf, sizeof buf);
    domus_sem_up(&w->events);
}

static void test_watch(void)
{
    step("watch");
    static struct watch_seen w;
    domus_sem_init(&w.events, 0);
    domus_mutex_init(&w.lock, 0);
    int rc = xenbus_watch(BASE "/w", "tok", on_watch, &w);
    CHECK(rc == 0, "watch", rc);
    rc = xenbus_watch(BASE "/w", "tok", on_watch, &w);
    CHECK(rc == -EEXIST, "same watch twice gives EEXIST", rc);
    CHECK(sem_wait_ms(&w.events, 2000), "initial watch event", 0);
    while (domus_sem_trydown(&w.events))
        ;
    rc = xenbus_write(XBT_NIL, BASE "/w/child/leaf", "1");
    CHECK(rc == 0, "write under the watch", rc);
    int found = 0;
    for (int i = 0; i < 8 && !found && sem_wait_ms(&w.events, 2000); ++i) {
        domus_mutex_lock(&w.lock);
        /* Creating leaf creates child too: either path may come first. */
        found = strncmp(w.last, BASE "/w/child", strlen(BASE "/w/child")) == 0;
        domus_mutex_unlock(&w.lock);
    }
    CHECK(found, "watch event for a write below the watch", 0);
    rc = xenbus_unwatch(BASE "/w", "tok");
    CHECK(rc == 0, "unwatch", rc);
    rc = xenbus_unwatch(BASE "/w", "tok");
    CHECK(rc == -ENOENT, "unwatch twice gives ENOENT", rc);
    while (domus_sem_trydown(&w.events))
        ;
    xenbus_write(XBT_NIL, BASE "/w/child/leaf", "2");
    domus_sleep_ms(50);
    CHECK(!domus_sem_trydown(&w.events), "no event after unwatch", 0);
}

static int read_counter(xenbus_transaction_t tx, long* value)
{
    char buf[32];
    int rc = xenbus_read(tx, BASE "/counter", buf, sizeof buf);
    if (rc < 0)
        return rc;
    *value = strtol(buf, NULL, 10);
    return 0;
}

static int tx_retries;

static void tx_incrementer(void* arg)
{
    int* result = arg;
    for (int i = 0; i < TX_INCREMENTS; ++i) {
        for (;;) {
            xenbus_transaction_t tx = XBT_NIL;
            int rc = xenbus_transaction_start(&tx);
            long v = 0;
            if (rc == 0)
                rc = read_counter(tx, &v);
            domus_sleep_ms(1); /* widen the window for the other thread */
            if (rc == 0)
                rc = xenbus_printf(tx, BASE, "counter", "%ld", v + 1);
            if (rc < 0) {
                if (tx != XBT_NIL)
                    xenbus_transaction_end(tx, 1);
                *result = rc;
                return;
            }
            rc = xenbus_transaction_end(tx, 0);
            if (rc == 0)
                break;
            if (rc != -EAGAIN) {
                *result = rc;
                return;
            }
            __atomic_fetch_add(&tx_retries, 1, __ATOMIC_RELAXED);
        }
    }
    *result = 0;
}

static void test_transactions(void)
{
    step("transaction commit");
    char buf[32];
    xenbus_transaction_t tx;
    int rc = xenbus_transaction_start(&tx);
    CHECK(rc == 0 && tx != XBT_NIL, "transaction_start", rc);
    rc = xenbus_write(tx, BASE "/tx/a", "in-tx");
    CHECK(rc == 0, "write in a transaction", rc);
    rc = xenbus_read(tx, BASE "/tx/a", buf, sizeof buf);
    CHECK(rc == 5 && strcmp(buf, "in-tx") == 0, "transaction reads its own write", rc);
    rc = xenbus_read(XBT_NIL, BASE "/tx/a", buf, sizeof buf);
    CHECK(rc == -ENOENT, "uncommitted write invisible outside", rc);
    rc = xenbus_transaction_end(tx, 0);
    CHECK(rc == 0, "commit", rc);
    rc = xenbus_read(XBT_NIL, BASE "/tx/a", buf, sizeof buf);
    CHECK(rc == 5 && strcmp(buf, "in-tx") == 0, "committed write visible", rc);

    step("transaction abort");
    rc = xenbus_transaction_start(&tx);
    CHECK(rc == 0, "transaction_start", rc);
    xenbus_write(tx, BASE "/tx/b", "never");
    rc = xenbus_transaction_end(tx, 1);
    CHECK(rc == 0, "abort", rc);
    rc = xenbus_read(XBT_NIL, BASE "/tx/b", buf, sizeof buf);
    CHECK(rc == -ENOENT, "aborted write invisible", rc);

    step("transaction conflict");
    rc = xenbus_write(XBT_NIL, BASE "/counter", "0");
    CHECK(rc == 0, "write counter", rc);
    rc = xenbus_transaction_start(&tx);
    CHECK(rc == 0, "transaction_start", rc);
    long v = -1;
    rc = read_counter(tx, &v);
    CHECK(rc == 0 && v == 0, "read counter in a transaction", rc);
    rc = xenbus_write(XBT_NIL, BASE "/counter", "100");
    CHECK(rc == 0, "conflicting write", rc);
    rc = xenbus_write(tx, BASE "/counter", "1");
    CHECK(rc == 0, "write counter in a transaction", rc);
    rc = xenbus_transaction_end(tx, 0);
    CHECK(rc == -EAGAIN, "conflicting commit gives EAGAIN", rc);
    rc = read_counter(XBT_NIL, &v);
    CHECK(rc == 0 && v == 100, "conflicting commit left no trace", rc);

    step("transactions from two threads with retry");
    rc = xenbus_write(XBT_NIL, BASE "/counter", "0");
    CHECK(rc == 0, "reset counter", rc);
    domus_thread_t* threads[TX_THREADS];
    int results[TX_THREADS];
    for (int i = 0; i < TX_THREADS; ++i) {
        results[i] = 1;
        threads[i] = domus_thread_create(tx_incrementer, &results[i], NULL);
        CHECK(threads[i], "thread_create", 0);
    }
    for (int i = 0; i < TX_THREADS; ++i) {
        domus_thread_join(threads[i]);
        CHECK(results[i] == 0, "transaction thread", results[i]);
    }
    rc = read_counter(XBT_NIL, &v);
    CHECK(rc == 0 && v == TX_THREADS * TX_INCREMENTS, "counter after concurrent transactions", v);
    printf("store_test: %d transactions, %d retried after EAGAIN\n", TX_THREADS * TX_INCREMENTS,
        tx_retries);
}

struct conc_arg {
    int index;
    int result;
};

static void conc_worker(void* p)
{
    struct conc_arg* a = p;
    char path[64], value[64], back[64];
    snprintf(path, sizeof path, BASE "/conc/t%d", a->index);
    for (int i = 0; i < CONC_ROUNDS; ++i) {
        int len = snprintf(value, sizeof value, "thread-%d-round-%d", a->index, i);
        int rc = xenbus_write(XBT_NIL, path, value);
        if (rc == 0)
            rc = xenbus_read(XBT_NIL, path, back, sizeof back);
        if (rc < 0) {
            a->result = rc;
            return;
        }
        if (rc != len || strcmp(back, value) != 0) {
            a->result = -10000 - i; /* someone else's reply */
            return;
        }
    }
    a->result = 0;
}

static void test_concurrency(void)
{
    step("8 threads x 200 requests");
    domus_thread_t* threads[CONC_THREADS];
    struct conc_arg args[CONC_THREADS];
    uint64_t t0 = domus_monotonic_ns();
    for (int i = 0; i < CONC_THREADS; ++i) {
        args[i].index = i;
        args[i].result = 1;
        threads[i] = domus_thread_create(conc_worker, &args[i], NULL);
        CHECK(threads[i], "thread_create", 0);
    }
    for (int i = 0; i < CONC_THREADS; ++i) {
        domus_thread_join(threads[i]);
        CHECK(args[i].result == 0, "concurrent requests", args[i].result);
    }
    uint64_t us = (domus_monotonic_ns() - t0) / 1000;
    printf("store_test: %d requests from %d threads in %llu us\n", CONC_THREADS * CONC_ROUNDS * 2,
        CONC_THREADS, (unsigned long long)us);
}

int main(void)
{
    char value[8];
    verbose = domus_cmdline_get("verbose", value, sizeof value) && value[0] == '1';
    if (!xenbus_available()) {
        char buf[4];
        int rc = xenbus_read(XBT_NIL, "domid", buf, sizeof buf);
        if (rc != -ENODEV) {
            printf("store_test: FAIL no store, but read gave %d instead of -ENODEV\n", rc);
            return 1;
        }
        printf("store_test: SKIP no store\n");
        return 0;
    }
    xenbus_rm(XBT_NIL, BASE);
    test_basic();
    if (!failures)
        test_big_values();
    if (!failures)
        test_watch();
    if (!failures)
        test_transactions();
    if (!failures)
        test_concurrency();
    int rc = xenbus_rm(XBT_NIL, BASE);
    if (!failures && rc != 0)
        fail("final rm", rc);
    if (failures)
        return 1;
    printf("store_test: PASS\n");
    return 0;
}
