// Vectored I/O over a list of memory pieces (iovecs) that together hold one disk range,
// in order: walking the list in sub-ranges, and zeroing or copying what it holds. The
// block backend hands images the granted pages of a request this way, so that data
// moves between the file and guest memory without a bounce buffer.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <vector>

namespace domus::storage {

std::size_t io_bytes(std::span<const iovec> pieces) noexcept;

// Walks `pieces` front to back. take() hands out the pieces of the next `bytes`, splitting
// a piece at the edge where needed; the pieces themselves are never modified.
class IoCursor {
public:
    explicit IoCursor(std::span<const iovec> pieces) noexcept : pieces_(pieces) {}

    // Appends to `out` the memory of the next `bytes` (at most remaining()) and moves past it.
    void take(std::size_t bytes, std::vector<iovec>& out);
    std::size_t remaining() const noexcept { return io_bytes(pieces_.subspan(index_)) - used_; }

private:
    std::span<const iovec> pieces_;
    std::size_t index_ = 0;  // the piece we are in
    std::size_t used_ = 0;   // bytes of it already handed out
};

// Appends `bytes` at `base` to `pieces`, as a longer last piece when it continues that
// one in memory: a request's pages that lie back to back (guest memory is one mapping)
// then make one piece, and the kernel walks one iovec instead of one per page.
void io_append(std::vector<iovec>& pieces, void* base, std::size_t bytes);

// Drops the first `bytes` of `pieces` (a transfer got that far).
void io_advance(std::vector<iovec>& pieces, std::size_t bytes);

void io_zero(std::span<const iovec> pieces) noexcept;
// Copies between the pieces and one flat buffer of io_bytes(pieces).
void io_gather(std::span<const iovec> pieces, std::byte* to) noexcept;
void io_scatter(const std::byte* from, std::span<const iovec> pieces) noexcept;

}  // namespace domus::storage
