// Vectored I/O helpers: the cursor over a request's pieces and the flat copies.
#include "storage/io_vector.hpp"

#include <algorithm>
#include <cstring>

namespace domus::storage {

std::size_t io_bytes(std::span<const iovec> pieces) noexcept {
    std::size_t total = 0;
    for (const iovec& piece : pieces)
        total += piece.iov_len;
    return total;
}

void IoCursor::take(std::size_t bytes, std::vector<iovec>& out) {
    while (bytes > 0 && index_ < pieces_.size()) {
        const iovec& piece = pieces_[index_];
        std::size_t n = std::min(bytes, piece.iov_len - used_);
        if (n > 0) out.push_back({static_cast<std::byte*>(piece.iov_base) + used_, n});
        bytes -= n;
        used_ += n;
        if (used_ == piece.iov_len) ++index_, used_ = 0;
    }
}

void io_append(std::vector<iovec>& pieces, void* base, std::size_t bytes) {
    if (!pieces.empty()) {
        iovec& last = pieces.back();
        if (static_cast<std::byte*>(last.iov_base) + last.iov_len == base) {
            last.iov_len += bytes;
            return;
        }
    }
    pieces.push_back({base, bytes});
}

void io_advance(std::vector<iovec>& pieces, std::size_t bytes) {
    std::size_t done = 0;
    while (done < pieces.size() && bytes >= pieces[done].iov_len)
        bytes -= pieces[done++].iov_len;
    pieces.erase(pieces.begin(), pieces.begin() + std::ptrdiff_t(done));
    if (bytes > 0) {
        pieces.front().iov_base = static_cast<std::byte*>(pieces.front().iov_base) + bytes;
        pieces.front().iov_len -= bytes;
    }
}

void io_zero(std::span<const iovec> pieces) noexcept {
    for (const iovec& piece : pieces)
        std::memset(piece.iov_base, 0, piece.iov_len);
}

void io_gather(std::span<const iovec> pieces, std::byte* to) noexcept {
    for (const iovec& piece : pieces) {
        std::memcpy(to, piece.iov_base, piece.iov_len);
        to += piece.iov_len;
    }
}

void io_scatter(const std::byte* from, std::span<const iovec> pieces) noexcept {
    for (const iovec& piece : pieces) {
        std::memcpy(piece.iov_base, from, piece.iov_len);
        from += piece.iov_len;
    }
}

}  // namespace domus::storage
