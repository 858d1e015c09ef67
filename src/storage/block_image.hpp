// BlockImage: the disk-image interface the block backends use, whatever the format on
// disk (raw file, block device, qcow2 chain), and open_image() that picks the format.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <sys/uio.h>

#include "base/result.hpp"

namespace domus::storage {

// Requests address the virtual disk in bytes; offsets and lengths are multiples of this.
inline constexpr std::uint64_t kSectorSize = 512;

enum class Format { raw, qcow2, autodetect };

// Where a piece of the virtual disk lies in a host file: what an asynchronous engine
// needs to move it with plain preadv/pwritev (io_uring) and no help from the image.
struct HostExtent {
    int fd;                // -1: the piece reads as zeros (reads only)
    std::uint64_t offset;  // in fd
    std::uint64_t length;
};

const char* format_name(Format format);

// One open disk image. Not thread-safe: one backend thread owns it. Every call either
// completes or returns an Error (never partial success reported as success).
class BlockImage {
public:
    virtual ~BlockImage() = default;

    // Virtual disk size in bytes, as the guest sees it.
    virtual std::uint64_t size_bytes() const = 0;
    virtual bool read_only() const = 0;

    // Offsets and lengths must be kSectorSize-aligned and lie inside size_bytes().
    virtual Result<void> read(std::uint64_t offset, std::span<std::byte> buffer) = 0;
    virtual Result<void> write(std::uint64_t offset, std::span<const std::byte> data) = 0;

    // The same for memory in pieces (a request's granted pages): `pieces`, in order, hold
    // [offset, offset + their total). The defaults go through one bounce buffer; qcow2
    // moves the data straight between its clusters and the pieces.
    virtual Result<void> readv(std::uint64_t offset, std::span<const iovec> pieces);
    virtual Result<void> writev(std::uint64_t offset, std::span<const iovec> pieces);

    // fdatasync semantics: every write acknowledged before this call is durable when it
    // returns successfully, and survives a crash of the process or the host.
    virtual Result<void> flush() = 0;

    // The range reads back as zeros afterwards; the space may be given back to the host.
    virtual Result<void> discard(std::uint64_t offset, std::uint64_t length) = 0;

    // Optional asynchronous access: a file descriptor whose bytes are the virtual disk
    // byte for byte (offset = disk offset), usable for pread/pwrite-style I/O of any
    // sector-aligned buffer (io_uring reads, writes, fdatasync), or -1 when the format
    // needs its own code on every access (qcow2: metadata updates must be ordered) and
    // callers must use read()/write()/flush(). The fd stays owned by the image.
    virtual int direct_fd() const { return -1; }
    // What direct_fd() I/O must be aligned to (buffer addresses, lengths and offsets);
    // a request that is not goes through readv()/writev() instead.
    virtual std::size_t direct_alignment() const { return kSectorSize; }
    // direct_fd() bypasses the host page cache (O_DIRECT): every transfer waits for the
    // device, so trying one that must not wait is a wasted system call.
    virtual bool direct_uncached() const { return false; }

    // For formats with no direct_fd() (qcow2): true when host_extents() may answer yes.
    virtual bool maps_host_extents() const { return false; }
    // Fills `extents` (appending, in disk order) with where [offset, offset + length) lies
    // and returns true when all of it can move by plain file I/O there: reads of allocated
    // or zero clusters anywhere in the chain, writes only into clusters this image owns
    // and has allocated (nothing to allocate, no metadata to change). False (`extents`
    // then unspecified): move it with readv()/writev(). The fds belong to the image and
    // its backing chain; the extents stay true until the next discard(), flush() or
    // backing change, which callers must not run while I/O on them is in flight.
    virtual Result<bool> host_extents(std::uint64_t offset, std::uint64_t length, bool write,
                                      std::vector<HostExtent>& extents);
};

// Appends `next` to `extents`, as a longer last extent when it continues that one.
void append_host_extent(std::vector<HostExtent>& extents, HostExtent next);

// Checks a request against the alignment rule and the disk size (overflow-safe).
Result<void> check_request(const BlockImage& image, std::uint64_t offset, std::uint64_t length);

// Opens `path`; autodetect reads the qcow2 magic and falls back to raw. qcow2 backing
// files are opened read-only, recursively (at most kMaxBackingDepth deep, no loops).
// `direct`: O_DIRECT, bypassing the host page cache (raw images only; refused with a
// clear error for qcow2 and where the file system cannot do it).
// Every image of the chain holds an ImageLock while open (QEMU's lock bytes): the top
// exclusive when writable, backing files and read-only images shared. An image another
// process writes (or reads without sharing writes, when we would write) is refused with
// an error naming the image and its holder.
Result<std::unique_ptr<BlockImage>> open_image(const std::string& path, Format format,
                                               bool read_only, bool direct = false);

// open_image() read-only and without locks, for looking at an image that may be in use
// (its header and size: `image info`, a new overlay's backing), like qemu-img's -U. What
// it reads may be mid-update; never give it to a domain.
Result<std::unique_ptr<BlockImage>> inspect_image(const std::string& path, Format format);
// The files of the chain `path` heads, top first, each spelled as opening the chain
// spells it (qcow2 backing names resolved against the image above): what a monitor that
// opens no paths must be handed to open it (base/host_files.hpp).
Result<std::vector<std::string>> chain_paths(const std::string& path, Format format);

// Detects the format from the first bytes of the file.
Result<Format> probe_format(const std::string& path);

}  // namespace domus::storage
