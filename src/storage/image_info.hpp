// image_info(): what `qemu-img info` shows about an image, read from its header only
// (the backing chain is not opened), plus a human-readable rendering.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.hpp"
#include "storage/block_image.hpp"

namespace domus::storage {

struct ImageInfo {
    std::string path;
    Format format = Format::raw;
    std::uint64_t virtual_size = 0;
    std::uint64_t allocated_bytes = 0;  // host blocks in use (st_blocks * 512)
    std::uint64_t cluster_size = 0;     // qcow2 only
    std::string backing_file;           // as stored in the header
    std::string backing_format;         // from the header extension, may be empty
    std::uint32_t qcow2_version = 0;
    std::uint32_t refcount_bits = 0;
    bool corrupt = false;
    bool dirty = false;
};

Result<ImageInfo> image_info(const std::string& path);

// Text in the shape of `qemu-img info`.
std::string render_info(const ImageInfo& info);

// "64 KiB", "10 GiB", "1.5 MiB": QEMU's size_to_str.
std::string human_size(std::uint64_t bytes);

}  // namespace domus::storage
