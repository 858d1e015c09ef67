/* Domus guest kernel: PV block devices (blkfront), C API for applications (C and C++).
 *
 * At boot the kernel looks for virtual block devices under device/vbd/ in the store,
 * connects each one to its backend (blkif, PV ABI reference sections 3, 4 and 10) and
 * numbers the connected ones 0..blk_count()-1 in store order. It then watches
 * device/vbd: a disk attached later (hot-plug) gets the next number once connected; a
 * detached one keeps its number, reports connected = 0, and its I/O ends with -EIO.
 * Numbers are never reused (at most BLK_MAX_DEVICES over the kernel's life).
 *
 * Common contracts:
 *  - Sector numbers and counts are always in 512-byte units (as on the ring and in
 *    blk_info.sectors), whatever the device's sector_size; when sector_size is larger,
 *    both must be multiples of sector_size / 512 (else -EINVAL).
 *  - Buffers may have any alignment and any length: the kernel copies through its own
 *    bounce pages (granted to the backend once, at connect time).
 *  - All functions are "thread" functions (guest.h): they may block; never call them
 *    from an event handler.
 *  - Results are 0 on success or a negative errno of the guest C library's <errno.h>:
 *    -ENODEV no such device; -EINVAL bad range, alignment or argument; -EROFS a write or
 *    discard on a read-only device; -EOPNOTSUPP an operation the backend does not offer
 *    (or answered BLKIF_RSP_EOPNOTSUPP); -EIO the backend reported an error, or the
 *    device failed (the backend broke the protocol or closed): every request in flight
 *    and every later one then ends with -EIO, nothing waits forever. */
#ifndef DOMUS_BLOCK_H
#define DOMUS_BLOCK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BLK_MAX_DEVICES 64

struct blk_info {
    uint64_t sectors; /* capacity in 512-byte units */
    uint32_t sector_size; /* logical block size in bytes (512, 4096, ...) */
    int read_only; /* the backend says VDISK_READONLY (or mode r) */
    int flush; /* blk_flush is supported (flush-cache or barrier) */
    int discard; /* blk_discard is supported */
    uint32_t max_segments; /* 4 KiB pages per ring request: 11, more with indirect */
    char name[16]; /* "xvda", or "vbd<devid>" for other numbering */
    int connected; /* 0 once the device was detached or failed */
};

/* Number of connected devices. The first call waits until the boot-time probe has
 * finished (each device gets at most ~10 s per handshake step); without a store or
 * without any vbd it returns 0 at once. */
int blk_count(void);
int blk_info(int dev, struct blk_info* info);
/* Waits until at least n devices have been numbered (hot-plug), or timeout_ms passed.
 * Returns blk_count() then, or -ETIMEDOUT. */
int blk_wait_count(int n, uint64_t timeout_ms);

/* Synchronous I/O: return when the data is on the device (write: as far as the
 * backend's write cache; call blk_flush for durability) or in buf (read). */
int blk_read(int dev, uint64_t sector, uint32_t count, void* buf);
int blk_write(int dev, uint64_t sector, uint32_t count, const void* buf);
/* Commits the backend's write cache: BLKIF_OP_FLUSH_DISKCACHE, or WRITE_BARRIER when
 * only that is offered; -EOPNOTSUPP when neither is. */
int blk_flush(int dev);
int blk_discard(int dev, uint64_t sector, uint64_t count);

/* Asynchronous I/O. Fill type, sector, count and buf, then blk_submit; the op (and
 * buf) must stay valid and untouched until blk_wait has returned (or blk_done says 1).
 * blk_submit blocks only while the ring is full; when it returns, the whole op is on
 * the ring, so one thread can keep many ops (up to the ring size, 32) in flight. An op
 * larger than max_segments pages is split into several ring requests. Any number of
 * threads may submit and wait at once. */
enum blk_op_type { BLK_OP_READ = 0, BLK_OP_WRITE = 1, BLK_OP_FLUSH = 2, BLK_OP_DISCARD = 3 };

struct blk_op {
    /* set by the caller */
    int type; /* enum blk_op_type */
    uint64_t sector; /* 512-byte units */
    uint64_t count; /* 512-byte sectors; 0 for a flush; at most 2^32-1 for read/write */
    void* buf; /* read/write: count * 512 bytes; ignored otherwise */
    /* result, valid once done */
    int status; /* 0 or a negative errno */
    /* the kernel's; do not touch while in flight */
    int _dev;
    uint32_t _done;
    uint32_t _pending; /* ring requests in flight */
    uint64_t _next; /* sectors already put on the ring */
};

/* Starts op on dev. Returns 0 if accepted; otherwise a negative errno, and the op is
 * then already done with that status (blk_wait returns it at once). */
int blk_submit(int dev, struct blk_op* op);
/* Waits for op to finish and returns its status. */
int blk_wait(struct blk_op* op);
/* 1 if op has finished (never blocks; it also collects responses). */
int blk_done(struct blk_op* op);

/* Where the frontend's time went since the device connected: per stage, summed over
 * every ring request (divide by `requests`), and how often the costly things happened. */
struct blk_stats {
    uint64_t requests; /* ring requests answered */
    uint64_t submit_ns; /* building requests: grants, ring slots, bounce copies, the push */
    uint64_t complete_ns; /* checking responses, revoking grants, bounce copies */
    uint64_t wait_ns; /* waiting for a response or a free slot: polling, sleeping */
    uint64_t grant_ops; /* data grants made and revoked */
    uint64_t lock_acquisitions; /* of the device's lock */
    uint64_t notifications; /* doorbells rung to the backend */
    uint64_t sleeps; /* waits that found nothing by polling and slept */
};
int blk_stats(int dev, struct blk_stats* out);

#ifdef __cplusplus
}
#endif

#endif
