// UringQueue: an io_uring instance for one backend thread. Submit reads, writes (plain
// or vectored) and fsyncs tagged with the caller's 64-bit value; reap completions without blocking
// or by waiting; poll event_fd() (an eventfd io_uring signals per completion) from an event loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include <sys/uio.h>

#include "base/fd.hpp"
#include "base/result.hpp"

struct io_uring;
struct io_uring_sqe;

namespace domus::storage {

struct UringCompletion {
    std::uint64_t tag;
    std::int32_t result;  // bytes transferred, or -errno
};

class UringQueue {
public:
    // `entries`: submission queue depth (rounded up to a power of two by the kernel).
    static Result<UringQueue> create(unsigned entries);
    UringQueue(UringQueue&&) noexcept;
    UringQueue& operator=(UringQueue&&) noexcept;
    ~UringQueue();

    // Queue one operation; the buffer must stay valid until its completion is reaped.
    // Fails when the submission queue is full (submit() and reap first).
    Result<void> queue_read(int fd, std::span<std::byte> buffer, std::uint64_t offset,
                            std::uint64_t tag);
    Result<void> queue_write(int fd, std::span<const std::byte> data, std::uint64_t offset,
                             std::uint64_t tag);
    // Vectored: one operation moves the pieces to or from consecutive file bytes. The
    // iovec array, not only the memory it points at, must stay valid until the
    // completion is reaped (the kernel may read it when it runs the operation, which
    // can be after submit() returned).
    Result<void> queue_readv(int fd, std::span<const iovec> pieces, std::uint64_t offset,
                             std::uint64_t tag);
    Result<void> queue_writev(int fd, std::span<const iovec> pieces, std::uint64_t offset,
                              std::uint64_t tag);
    Result<void> queue_fsync(int fd, bool data_only, std::uint64_t tag);

    // Hands queued operations to the kernel; returns how many it took.
    Result<unsigned> submit();

    std::optional<UringCompletion> try_reap();
    Result<UringCompletion> wait();

    // Readable when completions may be waiting; read 8 bytes to reset it, then try_reap().
    int event_fd() const { return event_fd_.get(); }
    unsigned in_flight() const { return in_flight_; }

private:
    UringQueue(std::unique_ptr<io_uring> ring, Fd event_fd);
    Result<::io_uring_sqe*> next_sqe();

    std::unique_ptr<io_uring> ring_;
    Fd event_fd_;
    unsigned in_flight_ = 0;
};

}  // namespace domus::storage
