/* Domus guest kernel: PV channels (secondary PV consoles with a name), C API for
 * applications (C and C++).
 *
 * The toolstack lists a domain's channels under device/console/<n> (n >= 1) in the store,
 * each with a `name` key (xl.cfg `channel = [ 'name=NAME,connection=socket,path=...' ]`).
 * channel_open finds the channel by that name and connects it to its backend (Xen's
 * console ring, PV ABI reference sections 6 and 10) the first time it is opened; a
 * channel nobody opens is never connected. On the host side the bytes go to whatever
 * the toolstack glued the channel to (a UNIX socket client). The stream has no end of
 * file: a host client that goes away is invisible here, and the next one continues.
 *
 * Common contracts:
 *  - All functions are "thread" functions (guest.h): they may block; never call them
 *    from an event handler. Any number of threads may read and write one channel; reads
 *    are serialised among themselves, and so are writes.
 *  - Results are a count or 0 on success, or a negative errno of the guest C library's
 *    <errno.h>: -ENODEV no store; -ENOENT no channel of that name; -EINVAL a bad argument
 *    (NULL, an unknown handle); -ETIMEDOUT the backend did not answer the handshake in
 *    ~10 s per step; -EIO the backend closed the channel or broke the ring protocol (every
 *    later call on that handle returns -EIO, nothing waits forever). */
#ifndef DOMUS_CHANNEL_H
#define DOMUS_CHANNEL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CHANNEL_MAX_OPEN 8

/* Connects the channel called `name` (or finds it already connected) and returns its
 * handle (>= 0). Opening the same name again returns the same handle. */
int channel_open(const char* name);

/* Blocks until at least one byte has arrived, then returns 1..len bytes. */
long channel_read(int ch, void* buf, size_t len);

/* Blocks until all len bytes are on the ring (the backend has room for 2 KiB at a time)
 * and returns len. */
long channel_write(int ch, const void* buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
