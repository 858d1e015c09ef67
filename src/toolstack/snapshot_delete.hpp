// snapshot_delete: which images deleting a snapshot touches, decided from the index and
// the images' backing files. Deleting snapshot S (image S over P) keeps every other
// snapshot and the active disk byte for byte by streaming S into each image built on
// it (its children: later snapshots, the active overlay) and pointing them at P; then S
// leaves the index and its file goes.
//
// Why streaming (QEMU's block-stream) and never committing the child into S (block-
// commit): a snapshot after a revert can have several children (branches), and only
// streaming serves them all; committing would write S in place while other images and
// the monitor read it, and would move a child's data into S's file, so the index would
// have to rename images. Streaming writes only the children: a frozen child is replaced
// by a merged copy (renamed over it, so readers of the old file see no change, and a
// daemon killed while writing it leaves only a stray file, never leaked clusters in a
// snapshot), the active overlay is filled in place by the monitor, whose image it is,
// between guest requests (the guest's writes go on; nothing is paused).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "toolstack/snapshot_index.hpp"

namespace domus::toolstack {

// An image's backing file as its header names it, resolved (empty: none), and format.
struct BackingFile {
    std::string path;
    std::string format;  // qcow2 | raw | "" (probe)
};
using BackingLookup = std::function<Result<BackingFile>(const std::string& image)>;

struct SnapshotDeletePlan {
    std::string removed;                // S's image: unlinked once the index no longer names it
    BackingFile backing;                // P: what S's children read through afterwards
    std::vector<std::string> children;  // frozen snapshot images over S (merged copies)
    bool active_child = false;          // the active overlay sits on S (the monitor streams)
    SnapshotIndex index;                // the index afterwards
};

// The plan for deleting snapshot `name` from `index`. Refused: a name the index lacks,
// the disk as configured (the chain's root: a file domus did not create and that every
// other snapshot reads through), an image outside the index directory or not qcow2.
Result<SnapshotDeletePlan> plan_snapshot_delete(const SnapshotIndex& index, const std::string& name,
                                                const BackingLookup& backing_of);

// The lookup from the images' headers (storage::image_info).
Result<BackingFile> backing_from_header(const std::string& image);

}  // namespace domus::toolstack
