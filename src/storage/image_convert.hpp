// convert_image(): a new, standalone image of a whole disk (raw or qcow2, backing chain
// read through) in raw or qcow2, sparse, as `qemu-img convert` makes one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/result.hpp"
#include "storage/block_image.hpp"
#include "storage/image_create.hpp"

namespace domus::storage {

struct ConvertOptions {
    Format source_format = Format::autodetect;  // autodetect probes the source's first bytes
    Format target_format = Format::qcow2;
    std::uint64_t cluster_size = kDefaultClusterSize;  // qcow2 targets
    // Read the source without its image lock, even while a domain writes it (qemu-img's
    // -U / --force-share): the copy may then be torn.
    bool share_source = false;
    // Replace an existing target (qemu-img always does). Off, an existing file is refused
    // and left untouched; on, a target some domain has open is still refused.
    bool overwrite = false;
};

struct ConvertProgress {
    std::uint64_t done = 0;   // bytes of the virtual disk handled so far
    std::uint64_t total = 0;  // the virtual disk size
};

// Called from the converting thread after each chunk (and once at 0 and once at total).
using ConvertProgressFn = std::function<void(const ConvertProgress&)>;

// Copies the whole virtual disk of `source` into a new image `target`: ranges that read
// as zeros are not written, so a raw target stays sparse and a qcow2 target leaves those
// clusters unallocated. The source is locked shared (refused while a domain writes it,
// naming the holder) unless share_source; the target exclusive while written. The target
// is fdatasync'ed (and its directory entry synced) before success; on any failure a
// target this call created or truncated is removed, and the error names the file.
Result<void> convert_image(const std::string& source, const std::string& target,
                           const ConvertOptions& options, const ConvertProgressFn& progress = {});

// "raw" or "qcow2" (as qemu-img's -f / -O spell them); anything else is an error.
Result<Format> parse_format(const std::string& name);

}  // namespace domus::storage
