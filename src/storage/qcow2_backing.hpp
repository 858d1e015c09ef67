// Backing chains: resolving a qcow2 image's backing file name the way QEMU does
// (relative to the image's directory), and opening a chain with its depth and loop limits.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "storage/block_image.hpp"

namespace domus::storage {

// Deeper chains are refused: a hostile image could otherwise open files without end.
inline constexpr int kMaxBackingDepth = 16;

// What the images above an image in the chain have already opened.
struct BackingContext {
    int depth = 0;                        // 0 = the image the caller asked for
    std::vector<std::string> real_paths;  // canonical paths of the images above
    bool lock = true;                     // take image locks (RawOptions::lock)
};

// `name` as stored in the header: absolute, or relative to the overlay's directory.
std::string resolve_backing_path(const std::string& image_path, const std::string& name);

// Backing format from the header extension ("qcow2", "raw"; empty = probe).
Result<Format> backing_format_from_name(const std::string& name);

// open_image() with the chain's context; backing files always open read-only.
Result<std::unique_ptr<BlockImage>> open_image_chain(const std::string& path, Format format,
                                                     bool read_only, BackingContext context);

}  // namespace domus::storage
