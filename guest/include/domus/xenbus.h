/* Domus guest kernel: the XenStore client ("xenbus"), C API for applications (C and C++).
 *
 * The kernel talks to the store over the ring page and event channel that start_info
 * names (store_mfn, store_evtchn). Without them (store_mfn = 0, e.g. `domus run` with no
 * store daemon) xenbus stays disabled: xenbus_available() is 0 and every other call
 * returns -ENODEV at once.
 *
 * Common contracts:
 *  - All functions are "thread" functions (guest.h): they block until the store answers,
 *    and must not be called from an event handler. Any number of threads may have
 *    requests outstanding at once; replies are matched to them by request id.
 *  - Results are 0 (or a length/count, where said) on success, or a negative errno of
 *    the guest C library's <errno.h>: the store's error names (EINVAL, EACCES, EEXIST,
 *    EISDIR, ENOENT, ENOMEM, ENOSPC, EIO, ENOTEMPTY, ENOSYS, EROFS, EBUSY, EAGAIN,
 *    EISCONN, E2BIG, EPERM) map to the constants of the same name (unknown names give
 *    -EINVAL). Besides those: -ENODEV no store; -EIO the store broke the protocol (the
 *    connection is then dead for good and the kernel says why on the console); -E2BIG a
 *    request over XENSTORE_PAYLOAD_MAX (4096) bytes, never sent; -ERANGE a caller's buffer
 *    too small where said; -EINVAL a NULL argument.
 *  - Paths that do not start with '/' (or '@') are relative to the domain's home,
 *    /local/domain/<domid>; the store resolves them. Paths are not checked here: the
 *    store answers -EINVAL for bad ones.
 *  - tx is a transaction from xenbus_transaction_start, or XBT_NIL (0) for none. */
#ifndef DOMUS_XENBUS_H
#define DOMUS_XENBUS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint32_t xenbus_transaction_t;
#define XBT_NIL ((xenbus_transaction_t)0)

/* 1 if a store is connected and usable, 0 if there is none or the connection broke. */
int xenbus_available(void);

/* Reads the value of path into buf: copies at most size-1 bytes and NUL-terminates
 * (when size > 0). Returns the value's full length, which is >= size if it was cut short
 * (like snprintf). Values may contain NULs; the length is the truth. */
int xenbus_read(xenbus_transaction_t tx, const char* path, char* buf, size_t size);

/* Writes a NUL-terminated value (the NUL is not stored); creates missing parents. */
int xenbus_write(xenbus_transaction_t tx, const char* path, const char* value);
/* Writes len raw bytes. */
int xenbus_write_bytes(xenbus_transaction_t tx, const char* path, const void* data, size_t len);
/* Formats a value (the kernel's printf subset: %d %i %u %x %X %p %s %c %% with l, ll,
 * z, a width, '0' and '-') and writes it to dir/node; node NULL or "" writes dir itself,
 * dir NULL or "" writes node (relative to home). */
int xenbus_printf(xenbus_transaction_t tx, const char* dir, const char* node, const char* fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Creates path (and missing parents); an existing node keeps its value. */
int xenbus_mkdir(xenbus_transaction_t tx, const char* path);
/* Removes path and everything below it; 0 if it is absent but its parent exists. */
int xenbus_rm(xenbus_transaction_t tx, const char* path);

/* Child names of path (leaf names, not full paths). The buffer form stores them one
 * after another, each NUL-terminated, and returns how many there are (0: none; buf[0]
 * is then set to NUL if size > 0); -ERANGE if they do not fit in size bytes. The
 * callback form calls fn for each name in store order until fn returns nonzero, and
 * returns the number of calls made. Both handle lists over 4096 bytes (the store's
 * E2BIG) by reading them in parts. */
int xenbus_directory(xenbus_transaction_t tx, const char* path, char* buf, size_t size);
typedef int (*xenbus_dir_fn)(const char* name, void* arg);
int xenbus_directory_foreach(
    xenbus_transaction_t tx, const char* path, xenbus_dir_fn fn, void* arg);

/* Permissions in string form: entries such as "n0 r5 b7" (owner first; see the ABI
 * reference, 1.5). get_perms stores them separated by single spaces, with the same
 * truncation rule and return value as xenbus_read. set_perms takes entries separated
 * by spaces or commas; only the owner (or dom0) may set them, and only dom0 may change
 * the owner (-EPERM). */
int xenbus_get_perms(xenbus_transaction_t tx, const char* path, char* buf, size_t size);
int xenbus_set_perms(xenbus_transaction_t tx, const char* path, const char* perms);

/* Watches. fn(path, token, arg) runs in the kernel's "xenbus-watch" thread, never in
 * upcall context, one event at a time: it may call any xenbus function (including
 * xenbus_unwatch of its own watch) but should not block for long, since it holds up
 * every other watch. `path` is the node that changed: the watched path itself or a node
 * below it (relative if the watch was). Every watch fires once right after it is set.
 * Events may be coalesced or spurious: re-read the state, do not count events.
 * (path, token) identifies a watch; registering the same pair twice gives -EEXIST.
 * Both strings are copied. */
typedef void (*xenbus_watch_fn)(const char* path, const char* token, void* arg);
int xenbus_watch(const char* path, const char* token, xenbus_watch_fn fn, void* arg);
/* Removes a watch; -ENOENT if there is no such (path, token). When it returns, fn is not
 * running (unless the caller is fn itself) and will not be called again for it. Must not
 * be called while holding something the watch's callback waits for. */
int xenbus_unwatch(const char* path, const char* token);

/* Transactions: reads and writes with this tx see a snapshot and their own writes;
 * nothing is visible to others until a commit. end(tx, 0) commits, end(tx, 1) aborts;
 * either way tx is finished. A commit that lost to a conflicting change returns -EAGAIN:
 * the caller redoes the whole transaction from xenbus_transaction_start. */
int xenbus_transaction_start(xenbus_transaction_t* tx);
int xenbus_transaction_end(xenbus_transaction_t tx, int abort);

#ifdef __cplusplus
}
#endif

#endif
