// image_merge: the data half of deleting an image from the middle of a qcow2 chain, as
// QEMU's block-stream does it: what an image lacks is copied into it from the image below.
//
// Deleting image S from  child -> S -> P  leaves  child -> P  reading the same bytes once
// every cluster S holds itself (data, or an explicit zero) and the child does not is in
// the child. Copies are written through Qcow2Image, so each copied cluster is durable
// before an L2 entry points at it; the child reads the same bytes before, during and
// after the copy (a copied cluster equals what S supplied), which is what makes a kill
// at any point harmless. Only then does the child's header name P (set_backing()).
#pragma once

#include <cstdint>
#include <string>

#include "base/result.hpp"
#include "storage/qcow2_image.hpp"

namespace domus::storage {

// Guest clusters of `image` (the last one may be partial).
std::uint64_t cluster_count(const Qcow2Image& image);

// Copies into `into`, for the `count` guest clusters from `first`, every cluster that
// `from` holds itself (data or zero) and `into` does not: data clusters whole, zero
// clusters as zero clusters. A cluster `into` has meanwhile (the guest wrote it) stays as
// it is. Both images need the same cluster size. Returns the data bytes copied; nothing
// is flushed.
Result<std::uint64_t> copy_missing_clusters(Qcow2Image& from, Qcow2Image& into, std::uint64_t first,
                                            std::uint64_t count);

// Streams `image`'s backing file S into `image` and rebases it onto S's own backing file
// `new_backing` (format `new_format`): the whole in-place operation, for an image nobody
// else uses. `image` must be writable and S qcow2. Returns the data bytes copied.
Result<std::uint64_t> stream_and_rebase(Qcow2Image& image, const std::string& new_backing,
                                        Format new_format);

// For an image others may read while this runs (a frozen snapshot under a running
// domain): writes a merged copy of `child` (whose backing file S is dropped) over
// `new_backing` beside it, makes it durable and renames it over `child` (the directory
// synced too). Readers that have `child` open keep the old file, which reads the same.
// After a crash `child` is either the old file or the merged one; a leftover
// `<child>.merge` is removed by the next call.
struct MergedCopy {
    std::uint64_t merged = 0;   // data bytes that came from S
    std::uint64_t written = 0;  // data bytes the copy holds (the child's own too)
};
Result<MergedCopy> replace_with_merged_copy(const std::string& child,
                                            const std::string& new_backing, Format new_format);

}  // namespace domus::storage
