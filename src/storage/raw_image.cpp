// RawImage: pread/pwrite straight through, discard by punching holes (files) or
// BLKDISCARD (block devices), flush by fdatasync.
#include "storage/raw_image.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/host_files.hpp"
#include "storage/file_io.hpp"

namespace domus::storage {
namespace {

constexpr std::size_t kDirectAlignment = RawImage::kDirectAlignment;

struct AlignedBuffer {
    explicit AlignedBuffer(std::size_t size)
        : data(static_cast<std::byte*>(std::aligned_alloc(kDirectAlignment, size))), size(size) {}
    ~AlignedBuffer() { std::free(data); }
    AlignedBuffer(const AlignedBuffer&) = delete;
    AlignedBuffer& operator=(const AlignedBuffer&) = delete;
    std::byte* data;
    std::size_t size;
};

bool aligned_for_direct(const void* buffer, std::uint64_t offset, std::size_t length) {
    return reinterpret_cast<std::uintptr_t>(buffer) % kDirectAlignment == 0 &&
           offset % kDirectAlignment == 0 && length % kDirectAlignment == 0;
}

}  // namespace

Result<std::unique_ptr<RawImage>> RawImage::open(const std::string& path, RawOptions options) {
    int flags = options.read_only ? O_RDONLY : O_RDWR;
    if (options.direct) flags |= O_DIRECT;
    DOMUS_TRY(fd, HostFiles::process().open(path, flags));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return errno_error("fstat " + path);
    std::uint64_t size = 0;
    bool block_device = S_ISBLK(st.st_mode);
    if (block_device) {
        if (::ioctl(fd.get(), BLKGETSIZE64, &size) != 0) return errno_error("BLKGETSIZE64 " + path);
    } else if (S_ISREG(st.st_mode)) {
        size = static_cast<std::uint64_t>(st.st_size);
    } else {
        return make_error("{}: not a regular file or block device", path);
    }
    ImageLock lock;
    if (options.lock) {
        DOMUS_TRY(taken, ImageLock::acquire(fd.get(), path,
                                            options.read_only ? kReaderLock : kRawWriterLock));
        lock = std::move(taken);
    }
    return std::unique_ptr<RawImage>(new RawImage(std::move(fd), std::move(lock), size,
                                                  options.read_only, block_device, options.direct));
}

Result<void> RawImage::read(std::uint64_t offset, std::span<std::byte> buffer) {
    DOMUS_TRY_VOID(check_request(*this, offset, buffer.size()));
    if (direct_ && !aligned_for_direct(buffer.data(), offset, buffer.size())) {
        std::uint64_t start = offset & ~(kDirectAlignment - 1);
        std::uint64_t end =
            (offset + buffer.size() + kDirectAlignment - 1) & ~(kDirectAlignment - 1);
        AlignedBuffer bounce(end - start);
        DOMUS_TRY(got, read_some(fd_.get(), {bounce.data, bounce.size}, start));
        std::memset(bounce.data + got, 0, bounce.size - got);
        std::memcpy(buffer.data(), bounce.data + (offset - start), buffer.size());
        return {};
    }
    DOMUS_TRY(got, read_some(fd_.get(), buffer, offset));
    // A file that shrank under us reads as zeros past its end rather than failing.
    std::memset(buffer.data() + got, 0, buffer.size() - got);
    return {};
}

Result<void> RawImage::write(std::uint64_t offset, std::span<const std::byte> data) {
    if (read_only_) return make_error("image is read-only");
    DOMUS_TRY_VOID(check_request(*this, offset, data.size()));
    if (direct_ && !aligned_for_direct(data.data(), offset, data.size())) {
        // Read-modify-write of the surrounding blocks through an aligned buffer.
        std::uint64_t start = offset & ~(kDirectAlignment - 1);
        std::uint64_t end = (offset + data.size() + kDirectAlignment - 1) & ~(kDirectAlignment - 1);
        AlignedBuffer bounce(end - start);
        DOMUS_TRY(got, read_some(fd_.get(), {bounce.data, bounce.size}, start));
        std::memset(bounce.data + got, 0, bounce.size - got);
        std::memcpy(bounce.data + (offset - start), data.data(), data.size());
        std::uint64_t length = std::min<std::uint64_t>(bounce.size, size_ - start);
        if (length % kDirectAlignment != 0)
            return make_error("O_DIRECT write at the unaligned disk end is not supported");
        return write_all(fd_.get(), {bounce.data, length}, start);
    }
    return write_all(fd_.get(), data, offset);
}

Result<void> RawImage::flush() {
    if (read_only_) return {};
    return sync_data(fd_.get());
}

Result<void> RawImage::discard(std::uint64_t offset, std::uint64_t length) {
    if (read_only_) return make_error("image is read-only");
    DOMUS_TRY_VOID(check_request(*this, offset, length));
    if (length == 0) return {};
    if (block_device_) {
        // BLKDISCARD does not promise zeros on every device; BLKZEROOUT does (and unmaps
        // where the device can). We promise zeros, so zero-out is the honest choice.
        std::uint64_t range[2] = {offset, length};
        if (::ioctl(fd_.get(), BLKZEROOUT, range) == 0) return {};
        return write_zeros(offset, length);
    }
    if (::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    static_cast<off_t>(offset), static_cast<off_t>(length)) == 0)
        return {};
    if (errno != EOPNOTSUPP && errno != ENOSYS) return errno_error("fallocate(PUNCH_HOLE)");
    return write_zeros(offset, length);
}

Result<void> RawImage::write_zeros(std::uint64_t offset, std::uint64_t length) {
    constexpr std::size_t kChunk = 1 << 20;
    AlignedBuffer zeros(kChunk);
    std::memset(zeros.data, 0, kChunk);
    while (length > 0) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(length, kChunk));
        DOMUS_TRY_VOID(write_all(fd_.get(), {zeros.data, n}, offset));
        offset += n;
        length -= n;
    }
    return {};
}

}  // namespace domus::storage
