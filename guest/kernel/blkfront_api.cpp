// The C API of <domus/block.h>: argument checks, then submit/wait on the device's ring
// (blkfront_io.cpp). The synchronous calls are one op on the caller's stack.
#include "blkfront.hpp"

#include <errno.h>
#include <string.h>

using namespace domus::guest;
using blkfront::Device;

namespace {

bool is_data(const blk_op* op) { return op->type == BLK_OP_READ || op->type == BLK_OP_WRITE; }

// 0 to go ahead, 1 when there is nothing to put on the ring, or a negative errno.
int check(const Device* dev, const blk_op* op)
{
    if (__atomic_load_n(&dev->failed, __ATOMIC_ACQUIRE))
        return -EIO;
    switch (op->type) {
    case BLK_OP_READ:
    case BLK_OP_WRITE:
    case BLK_OP_DISCARD:
        break;
    case BLK_OP_FLUSH:
        return dev->feature_flush || dev->feature_barrier ? 0 : -EOPNOTSUPP;
    default:
        return -EINVAL;
    }
    if (op->type == BLK_OP_DISCARD && !dev->feature_discard)
        return -EOPNOTSUPP;
    if (op->type != BLK_OP_READ && dev->read_only)
        return -EROFS;
    if (is_data(op) && (op->count > UINT32_MAX || (op->count && !op->buf)))
        return -EINVAL;
    uint64_t end;
    if (__builtin_add_overflow(op->sector, op->count, &end) || end > dev->sectors)
        return -EINVAL;
    uint64_t unit = dev->sector_size / 512;
    if (op->sector % unit || op->count % unit)
        return -EINVAL;
    return op->count ? 0 : 1;
}

int run(int dev, int type, uint64_t sector, uint64_t count, void* buf)
{
    blk_op op {};
    op.type = type;
    op.sector = sector;
    op.count = count;
    op.buf = buf;
    blk_submit(dev, &op);
    return blk_wait(&op);
}

} // namespace

extern "C" {

int blk_count(void) { return blkfront::count(); }

int blk_wait_count(int n, uint64_t timeout_ms) { return blkfront::wait_count(n, timeout_ms); }

int blk_info(int index, struct blk_info* info)
{
    Device* dev = blkfront::device(index);
    if (!dev)
        return -ENODEV;
    if (!info)
        return -EINVAL;
    memset(info, 0, sizeof *info);
    info->sectors = dev->sectors;
    info->sector_size = dev->sector_size;
    info->read_only = dev->read_only;
    info->flush = dev->feature_flush || dev->feature_barrier;
    info->discard = dev->feature_discard;
    info->max_segments = dev->slot_segs;
    memcpy(info->name, dev->name, sizeof info->name);
    info->connected = !__atomic_load_n(&dev->failed, __ATOMIC_ACQUIRE);
    return 0;
}

int blk_submit(int index, struct blk_op* op)
{
    if (!op)
        return -EINVAL;
    op->status = 0;
    op->_dev = index;
    op->_done = 0;
    op->_pending = 0;
    op->_next = 0;
    Device* dev = blkfront::device(index);
    int rc = dev ? check(dev, op) : -ENODEV;
    if (rc != 0) {
        rc = rc < 0 ? rc : 0;
        op->status = rc;
        __atomic_store_n(&op->_done, 1u, __ATOMIC_RELEASE);
        return rc;
    }
    blkfront::submit(dev, op);
    blkfront::report_failure(dev);
    return 0;
}

int blk_wait(struct blk_op* op)
{
    if (!op)
        return -EINVAL;
    bool was_done = __atomic_load_n(&op->_done, __ATOMIC_ACQUIRE);
    int rc = blkfront::wait(op);
    if (!was_done)
        blkfront::report_failure(blkfront::device(op->_dev));
    return rc;
}

int blk_done(struct blk_op* op) { return op && blkfront::done(op) ? 1 : 0; }

int blk_stats(int index, struct blk_stats* out)
{
    Device* dev = blkfront::device(index);
    if (!dev)
        return -ENODEV;
    if (!out)
        return -EINVAL;
    blkfront::stats(dev, out);
    return 0;
}

int blk_read(int dev, uint64_t sector, uint32_t count, void* buf)
{
    return run(dev, BLK_OP_READ, sector, count, buf);
}

int blk_write(int dev, uint64_t sector, uint32_t count, const void* buf)
{
    return run(dev, BLK_OP_WRITE, sector, count, const_cast<void*>(buf));
}

int blk_flush(int dev) { return run(dev, BLK_OP_FLUSH, 0, 0, nullptr); }

int blk_discard(int dev, uint64_t sector, uint64_t count)
{
    return run(dev, BLK_OP_DISCARD, sector, count, nullptr);
}

} // extern "C"
