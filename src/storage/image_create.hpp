// Creating disk images: an empty qcow2 version 3 image (optionally over a backing file)
// or a sparse raw file, as `qemu-img create` would.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/result.hpp"
#include "storage/block_image.hpp"

namespace domus::storage {

inline constexpr std::uint64_t kDefaultClusterSize = 64 * 1024;

// Creates (or truncates, like qemu-img) `path`. `size` is rounded up to 512 bytes; with a
// backing file it defaults to the backing image's size. `backing_path` is stored as
// given and, when relative, resolved against the new image's directory (as QEMU does).
// Raw images cannot have a backing file. `cluster_size`: a power of two, 512 B..2 MiB.
// `backing_format` is recorded in the image; autodetect probes the backing file, which a
// caller that knows the format should avoid (a guest can write a qcow2 header into a raw
// disk).
Result<void> create_image(const std::string& path, std::optional<std::uint64_t> size, Format format,
                          std::optional<std::string> backing_path = std::nullopt,
                          std::uint64_t cluster_size = kDefaultClusterSize,
                          Format backing_format = Format::autodetect);

// "10G", "512M", "64k", "4096" (bytes), as qemu-img accepts them (binary units).
Result<std::uint64_t> parse_size(const std::string& text);

}  // namespace domus::storage
