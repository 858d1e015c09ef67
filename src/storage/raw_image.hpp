// RawImage: a raw disk file or a host block device, byte for byte the guest's disk.
#pragma once

#include <memory>
#include <string>

#include "base/fd.hpp"
#include "storage/block_image.hpp"
#include "storage/image_lock.hpp"

namespace domus::storage {

struct RawOptions {
    bool read_only = false;
    // O_DIRECT bypasses the host page cache; refused with a clear error where the file
    // system does not support it (tmpfs). Unaligned buffers go through a bounce buffer.
    bool direct = false;
    // Take the image lock (shared for read-only, exclusive for writers). Off only for
    // inspecting an image that may be in use (image info, a new overlay's backing size).
    bool lock = true;
};

class RawImage final : public BlockImage {
public:
    // O_DIRECT wants buffer, offset and length aligned to the logical block size; 4 KiB
    // covers every device we meet.
    static constexpr std::size_t kDirectAlignment = 4096;

    static Result<std::unique_ptr<RawImage>> open(const std::string& path, RawOptions options);

    std::uint64_t size_bytes() const override { return size_; }
    bool read_only() const override { return read_only_; }
    Result<void> read(std::uint64_t offset, std::span<std::byte> buffer) override;
    Result<void> write(std::uint64_t offset, std::span<const std::byte> data) override;
    Result<void> flush() override;
    Result<void> discard(std::uint64_t offset, std::uint64_t length) override;
    // The file itself. With O_DIRECT, transfers must be kDirectAlignment-aligned (whole
    // granted pages are; pages at a sector offset go through read()/write(), which bounce).
    int direct_fd() const override { return fd_.get(); }
    std::size_t direct_alignment() const override {
        return direct_ ? kDirectAlignment : kSectorSize;
    }
    bool direct_uncached() const override { return direct_; }

    bool is_block_device() const { return block_device_; }

private:
    RawImage(Fd fd, ImageLock lock, std::uint64_t size, bool read_only, bool block_device,
             bool direct)
        : fd_(std::move(fd)),
          lock_(std::move(lock)),
          size_(size),
          read_only_(read_only),
          block_device_(block_device),
          direct_(direct) {}

    Result<void> write_zeros(std::uint64_t offset, std::uint64_t length);

    Fd fd_;
    ImageLock lock_;
    std::uint64_t size_;
    bool read_only_;
    bool block_device_;
    bool direct_;
};

}  // namespace domus::storage
