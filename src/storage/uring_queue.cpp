// UringQueue: RAII over liburing's queue and a registered completion eventfd.
#include "storage/uring_queue.hpp"

#include <liburing.h>
#include <sched.h>
#include <sys/eventfd.h>

#include <cerrno>
#include <utility>

namespace domus::storage {

UringQueue::UringQueue(std::unique_ptr<io_uring> ring, Fd event_fd)
    : ring_(std::move(ring)), event_fd_(std::move(event_fd)) {}

UringQueue::UringQueue(UringQueue&& other) noexcept
    : ring_(std::move(other.ring_)),
      event_fd_(std::move(other.event_fd_)),
      in_flight_(std::exchange(other.in_flight_, 0)) {}

UringQueue& UringQueue::operator=(UringQueue&& other) noexcept {
    if (this != &other) {
        if (ring_) io_uring_queue_exit(ring_.get());
        ring_ = std::move(other.ring_);
        event_fd_ = std::move(other.event_fd_);
        in_flight_ = std::exchange(other.in_flight_, 0);
    }
    return *this;
}

UringQueue::~UringQueue() {
    // Tearing down the ring cancels or waits for what is in flight (kernel side).
    if (ring_) io_uring_queue_exit(ring_.get());
}

Result<UringQueue> UringQueue::create(unsigned entries) {
    auto ring = std::make_unique<io_uring>();
    if (int rc = io_uring_queue_init(entries, ring.get(), 0); rc < 0)
        return errno_error("io_uring_queue_init", -rc);
    Fd event_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!event_fd) {
        int err = errno;
        io_uring_queue_exit(ring.get());
        return errno_error("eventfd", err);
    }
    if (int rc = io_uring_register_eventfd(ring.get(), event_fd.get()); rc < 0) {
        io_uring_queue_exit(ring.get());
        return errno_error("io_uring_register_eventfd", -rc);
    }
    return UringQueue(std::move(ring), std::move(event_fd));
}

Result<io_uring_sqe*> UringQueue::next_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
    if (!sqe) return make_error("io_uring submission queue is full");
    return sqe;
}

Result<void> UringQueue::queue_read(int fd, std::span<std::byte> buffer, std::uint64_t offset,
                                    std::uint64_t tag) {
    DOMUS_TRY(sqe, next_sqe());
    io_uring_prep_read(sqe, fd, buffer.data(), static_cast<unsigned>(buffer.size()), offset);
    io_uring_sqe_set_data64(sqe, tag);
    return {};
}

Result<void> UringQueue::queue_write(int fd, std::span<const std::byte> data, std::uint64_t offset,
                                     std::uint64_t tag) {
    DOMUS_TRY(sqe, next_sqe());
    io_uring_prep_write(sqe, fd, data.data(), static_cast<unsigned>(data.size()), offset);
    io_uring_sqe_set_data64(sqe, tag);
    return {};
}

Result<void> UringQueue::queue_readv(int fd, std::span<const iovec> pieces, std::uint64_t offset,
                                     std::uint64_t tag) {
    DOMUS_TRY(sqe, next_sqe());
    io_uring_prep_readv(sqe, fd, pieces.data(), static_cast<unsigned>(pieces.size()), offset);
    io_uring_sqe_set_data64(sqe, tag);
    return {};
}

Result<void> UringQueue::queue_writev(int fd, std::span<const iovec> pieces, std::uint64_t offset,
                                      std::uint64_t tag) {
    DOMUS_TRY(sqe, next_sqe());
    io_uring_prep_writev(sqe, fd, pieces.data(), static_cast<unsigned>(pieces.size()), offset);
    io_uring_sqe_set_data64(sqe, tag);
    return {};
}

Result<void> UringQueue::queue_fsync(int fd, bool data_only, std::uint64_t tag) {
    DOMUS_TRY(sqe, next_sqe());
    io_uring_prep_fsync(sqe, fd, data_only ? IORING_FSYNC_DATASYNC : 0);
    io_uring_sqe_set_data64(sqe, tag);
    return {};
}

Result<unsigned> UringQueue::submit() {
    // EAGAIN: the kernel could not allocate for the requests just now and took none.
    // Try again (a bounded number of times, yielding): a caller that waits for the
    // completion may have no other event coming that would make it submit again.
    constexpr int kMaxEagainInARow = 1000;
    int rc;
    int eagain = 0;
    do {
        rc = io_uring_submit(ring_.get());
        if (rc == -EAGAIN && ++eagain <= kMaxEagainInARow) ::sched_yield();
    } while (rc == -EINTR || (rc == -EAGAIN && eagain <= kMaxEagainInARow));
    if (rc < 0) return errno_error("io_uring_submit", -rc);
    in_flight_ += static_cast<unsigned>(rc);
    return static_cast<unsigned>(rc);
}

std::optional<UringCompletion> UringQueue::try_reap() {
    io_uring_cqe* cqe = nullptr;
    if (io_uring_peek_cqe(ring_.get(), &cqe) != 0 || !cqe) return std::nullopt;
    UringCompletion done{io_uring_cqe_get_data64(cqe), cqe->res};
    io_uring_cqe_seen(ring_.get(), cqe);
    --in_flight_;
    return done;
}

Result<UringCompletion> UringQueue::wait() {
    if (in_flight_ == 0) return make_error("io_uring wait with nothing in flight");
    io_uring_cqe* cqe = nullptr;
    int rc;
    do {
        rc = io_uring_wait_cqe(ring_.get(), &cqe);
    } while (rc == -EINTR);
    if (rc < 0) return errno_error("io_uring_wait_cqe", -rc);
    UringCompletion done{io_uring_cqe_get_data64(cqe), cqe->res};
    io_uring_cqe_seen(ring_.get(), cqe);
    --in_flight_;
    return done;
}

}  // namespace domus::storage
