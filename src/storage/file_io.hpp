// Whole-buffer pread/pwrite loops: the kernel may transfer less than asked, and EINTR or
// EAGAIN must not turn into an I/O error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <sys/uio.h>

#include "base/result.hpp"

namespace domus::storage {

// Reads until the buffer is full or end of file; returns the number of bytes read.
Result<std::size_t> read_some(int fd, std::span<std::byte> buffer, std::uint64_t offset);

// Reads the whole buffer; a short read (end of file) is an error.
Result<void> read_exact(int fd, std::span<std::byte> buffer, std::uint64_t offset);

Result<void> write_all(int fd, std::span<const std::byte> data, std::uint64_t offset);

// The same for a list of pieces (preadv/pwritev; `pieces` is consumed: on return it holds
// what was not transferred). read_exact_v fails on a short read (end of file).
Result<void> read_exact_v(int fd, std::vector<iovec>& pieces, std::uint64_t offset);
Result<void> write_all_v(int fd, std::vector<iovec>& pieces, std::uint64_t offset);

Result<void> sync_data(int fd);

Result<std::uint64_t> file_size(int fd);

}  // namespace domus::storage
