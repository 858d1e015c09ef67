// pread/pwrite loops and fdatasync with errno-carrying errors; short transfers are
// continued, EINTR and EAGAIN retried.
#include "storage/file_io.hpp"

#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "storage/io_vector.hpp"

namespace domus::storage {

namespace {

// Whether a failed call is to be made again. EINTR: a signal came before anything moved.
// EAGAIN: the kernel could not do it without waiting just now (a descriptor opened
// O_NONBLOCK, a short-lived shortage); neither says anything about the data, so neither
// may become an I/O error. EAGAIN only a bounded number of times in a row (yielding in
// between), so a descriptor that will never be ready cannot spin us forever.
bool try_again(int error, int& eagain_in_a_row) {
    constexpr int kMaxEagainInARow = 1000;
    if (error == EINTR) return true;
    if (error != EAGAIN || ++eagain_in_a_row > kMaxEagainInARow) return false;
    ::sched_yield();
    return true;
}

}  // namespace

Result<std::size_t> read_some(int fd, std::span<std::byte> buffer, std::uint64_t offset) {
    std::size_t done = 0;
    int eagain = 0;
    while (done < buffer.size()) {
        ssize_t n = ::pread(fd, buffer.data() + done, buffer.size() - done,
                            static_cast<off_t>(offset + done));
        if (n < 0) {
            if (try_again(errno, eagain)) continue;
            return errno_error(fmt::format("pread at {:#x}", offset + done));
        }
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
    }
    return done;
}

Result<void> read_exact(int fd, std::span<std::byte> buffer, std::uint64_t offset) {
    DOMUS_TRY(got, read_some(fd, buffer, offset));
    if (got != buffer.size())
        return make_error("short read at {:#x}: {} of {} bytes (beyond end of file)", offset, got,
                          buffer.size());
    return {};
}

namespace {

// preadv/pwritev until `pieces` is empty; stops early only at end of file (reads).
Result<void> transfer_v(int fd, std::vector<iovec>& pieces, std::uint64_t offset, bool write) {
    int eagain = 0;
    while (!pieces.empty()) {
        int count = int(std::min<std::size_t>(pieces.size(), IOV_MAX));
        ssize_t n = write ? ::pwritev(fd, pieces.data(), count, off_t(offset))
                          : ::preadv(fd, pieces.data(), count, off_t(offset));
        if (n < 0) {
            if (try_again(errno, eagain)) continue;
            return errno_error(fmt::format("{} at {:#x}", write ? "pwritev" : "preadv", offset));
        }
        if (n == 0) {
            if (write) return make_error("pwritev at {:#x} wrote nothing", offset);
            return make_error("short read at {:#x}: {} bytes beyond end of file", offset,
                              io_bytes(pieces));
        }
        io_advance(pieces, std::size_t(n));
        offset += std::uint64_t(n);
    }
    return {};
}

}  // namespace

Result<void> read_exact_v(int fd, std::vector<iovec>& pieces, std::uint64_t offset) {
    return transfer_v(fd, pieces, offset, false);
}

Result<void> write_all_v(int fd, std::vector<iovec>& pieces, std::uint64_t offset) {
    return transfer_v(fd, pieces, offset, true);
}

Result<void> write_all(int fd, std::span<const std::byte> data, std::uint64_t offset) {
    std::size_t done = 0;
    int eagain = 0;
    while (done < data.size()) {
        ssize_t n =
            ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (try_again(errno, eagain)) continue;
            return errno_error(fmt::format("pwrite at {:#x}", offset + done));
        }
        if (n == 0) return make_error("pwrite at {:#x} wrote nothing", offset + done);
        done += static_cast<std::size_t>(n);
    }
    return {};
}

Result<void> sync_data(int fd) {
    while (::fdatasync(fd) != 0) {
        if (errno != EINTR) return errno_error("fdatasync");
    }
    return {};
}

Result<std::uint64_t> file_size(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return errno_error("fstat");
    return static_cast<std::uint64_t>(st.st_size);
}

}  // namespace domus::storage
