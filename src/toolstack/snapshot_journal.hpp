// SnapshotJournal: the write-ahead record that makes a snapshot operation (create,
// revert, delete) crash-safe. Its state lives in three places: the monitor (which image each
// disk uses), each disk's index.json and the domain's record. The daemon writes the
// intent, durably, before it asks the monitor to switch the disks (all or none); then it
// brings the indexes and the record up to date, deletes what the switch abandoned, and
// removes the intent. A daemon that died on the way finds the intent when it recovers
// the domain, asks the monitor which images its disks use, and finishes the operation
// (the disks switched) or undoes it (they did not): every step is idempotent.
//
// A delete has no switch: each of its steps leaves every image reading the same bytes
// (snapshot_delete.hpp), so a recovering daemon always finishes it, redoing what a
// child's header shows undone.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "toolstack/snapshot_index.hpp"

namespace domus::toolstack {

struct SnapshotIntent {
    struct Disk {
        std::size_t disk = 0;  // index in the domain's disk list
        std::string vdev;
        std::string overlay;    // the image the disk switches to
        std::string spec;       // the disk's DISKSPEC once switched
        std::string abandoned;  // deleted once switched ("": nothing)
        SnapshotIndex index;    // the disk's index once switched
        // delete only (snapshot_delete.hpp): `overlay` is the active image, unchanged.
        std::string removed;                // the deleted snapshot's image
        std::string backing;                // its backing file, its children's afterwards
        std::string backing_format;         // qcow2 | raw
        std::vector<std::string> children;  // frozen images over `removed`
        bool active_child = false;          // the active overlay sits on `removed`
    };
    std::string operation;  // "create" | "revert" | "delete"
    std::string name;       // the snapshot's
    std::vector<Disk> disks;
};

Result<void> write_snapshot_intent(const std::string& path, const SnapshotIntent& intent);
// Nothing when there is no intent at `path`; an error for a damaged one.
Result<std::optional<SnapshotIntent>> read_snapshot_intent(const std::string& path);

// Whether the monitor made the switch, from the image each vdev uses now (vdev, image):
// true when every disk of the intent uses its overlay, false when none does; an error
// when only some do (the monitor switches all or none, so something else changed them).
Result<bool> snapshot_intent_switched(
    const SnapshotIntent& intent, const std::vector<std::pair<std::string, std::string>>& images);

}  // namespace domus::toolstack
