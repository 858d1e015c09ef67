// pread/pwrite loops and fdatasync with errno-carrying errors.
#include "storage/file_io.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace domus::storage {

Result<std::size_t> read_some(int fd, std::span<std::byte> buffer, std::uint64_t offset) {
    std::size_t done = 0;
    while (done < buffer.size()) {
        ssize_t n = ::pread(fd, buffer.data() + done, buffer.size() - done,
                            static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
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

Result<void> write_all(int fd, std::span<const std::byte> data, std::uint64_t offset) {
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n =
            ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
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
