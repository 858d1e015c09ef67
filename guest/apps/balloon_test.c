/* balloon_test: the guest side of the ballooning tests and benchmark. Boots (already
 * ballooned down to memory/target by the kernel), publishes data/balloon/status =
 * "ready" and its balloon figures, then runs what dom0 writes to data/balloon/cmd:
 *   "pressure": malloc 1 MiB blocks (each touched) until malloc fails; the failure must
 *     be a clean NULL with errno ENOMEM. Frees them, allocates half as much again (the
 *     allocator still works) and writes "enomem <MiB allocated> <MiB reallocated>" (or
 *     "fail ...") to data/balloon/result.
 *   "stats": writes "<current_kib> <target_kib> <ballooned_kib>" to data/balloon/result.
 *   "hold <MiB>": allocates (and touches) that much and keeps it: "held <MiB got>".
 *   "release": frees what "hold" kept: "released".
 * dom0 writes data/balloon/seq (a new number) before each command; each answer ends with
 * it so dom0 can tell a new answer from an old one: "<answer> #<seq>". */
#include <domus/guest.h>
#include <domus/xenbus.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static domus_sem_t command = DOMUS_SEM_INIT(0);
static struct block* held; /* what "hold" keeps */

static void on_command(const char* path, const char* token, void* arg)
{
    (void)path, (void)token, (void)arg;
    domus_sem_up(&command);
}

struct block {
    struct block* next;
};

/* Allocates (and touches) up to `limit` MiB; returns how many it got; *err the errno. */
static unsigned allocate(struct block** list, unsigned limit, int* err)
{
    unsigned n = 0;
    *err = 0;
    while (n < limit) {
        errno = 0;
        struct block* b = malloc(1u << 20);
        if (!b) {
            *err = errno;
            break;
        }
        memset(b, 0x5a, 1u << 20);
        b->next = *list;
        *list = b;
        ++n;
    }
    return n;
}

static void release(struct block** list)
{
    while (*list) {
        struct block* next = (*list)->next;
        free(*list);
        *list = next;
    }
}

static void answer(const char* text)
{
    char seq[32];
    if (xenbus_read(XBT_NIL, "data/balloon/seq", seq, sizeof seq) <= 0)
        strcpy(seq, "0");
    char line[128];
    snprintf(line, sizeof line, "%s #%s", text, seq);
    if (xenbus_write(XBT_NIL, "data/balloon/result", line) < 0)
        printf("balloon_test: cannot write the result: %s\n", line);
    printf("balloon_test: %s\n", line);
    fflush(stdout);
}

static void pressure(void)
{
    struct block* list = NULL;
    int err;
    unsigned got = allocate(&list, 1u << 20, &err);
    release(&list);
    if (err != ENOMEM) {
        char text[64];
        snprintf(text, sizeof text, "fail errno=%d after %u MiB", err, got);
        answer(text);
        return;
    }
    int err2;
    unsigned again = allocate(&list, got / 2, &err2);
    release(&list);
    char text[64];
    snprintf(text, sizeof text, "%s %u %u", again == got / 2 ? "enomem" : "fail", got, again);
    answer(text);
}

static void stats(void)
{
    uint64_t current, target, ballooned;
    domus_balloon_stats(&current, &target, &ballooned);
    char text[96];
    snprintf(text, sizeof text, "%llu %llu %llu", (unsigned long long)current,
        (unsigned long long)target, (unsigned long long)ballooned);
    answer(text);
}

int main(void)
{
    if (!xenbus_available()) {
        printf("balloon_test: no xenstore; this guest needs the Domus daemon\n");
        return 2;
    }
    uint64_t current, target, ballooned;
    domus_balloon_stats(&current, &target, &ballooned);
    printf("balloon_test: booted at %llu KiB (target %llu KiB, balloon %llu KiB)\n",
        (unsigned long long)current, (unsigned long long)target, (unsigned long long)ballooned);
    if (xenbus_watch("data/balloon/cmd", "balloon-cmd", on_command, NULL) < 0) {
        printf("balloon_test: cannot watch data/balloon/cmd\n");
        return 1;
    }
    char last[32] = "";
    xenbus_write(XBT_NIL, "data/balloon/status", "ready");
    fflush(stdout);
    for (;;) {
        domus_sem_down(&command);
        char cmd[32];
        int n = xenbus_read(XBT_NIL, "data/balloon/cmd", cmd, sizeof cmd);
        if (n <= 0 || (size_t)n >= sizeof cmd)
            continue;
        /* One command per sequence number (the watch's first event may come late). */
        char seq[32];
        if (xenbus_read(XBT_NIL, "data/balloon/seq", seq, sizeof seq) <= 0 || !strcmp(seq, last))
            continue;
        strcpy(last, seq);
        if (!strcmp(cmd, "pressure")) {
            pressure();
        } else if (!strncmp(cmd, "hold ", 5)) {
            int err;
            unsigned got = allocate(&held, (unsigned)strtoul(cmd + 5, NULL, 10), &err);
            char text[32];
            snprintf(text, sizeof text, "held %u", got);
            answer(text);
        } else if (!strcmp(cmd, "release")) {
            release(&held);
            answer("released");
        } else if (!strcmp(cmd, "stats")) {
            stats();
        }
    }
}
