// SnapshotIndex: the snapshots of one disk, kept next to it. A snapshot is a frozen
// image; the domain writes to an overlay (qcow2) on top of the snapshot it last took or
// reverted to. For the disk /img/vm.qcow2 everything lives in /img/vm.qcow2.snapshots/:
// index.json and the overlays overlay-<n>.qcow2. The disk itself becomes the first
// snapshot and is never written again while snapshots exist.
//
//   create NAME : the active image becomes snapshot NAME; a new overlay over it is active
//   revert NAME : a new overlay over snapshot NAME is active; the old active is deleted
//   delete NAME : NAME's image is merged into the images over it and deleted; the first
//                 snapshot (the disk as configured) stays (snapshot_delete.hpp)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.hpp"

namespace domus::toolstack {

struct Snapshot {
    std::string name;
    std::string image;   // the frozen image
    std::string format;  // raw | qcow2
    double created_unix = 0;
    bool operator==(const Snapshot&) const = default;
};

struct SnapshotIndex {
    std::string dir;            // <disk>.snapshots
    std::string disk;           // the disk as first configured
    std::string active;         // the image the domain writes now
    std::string active_format;  // raw | qcow2
    std::string based_on;       // the snapshot the active overlay sits on ("" before any)
    std::uint64_t next_overlay = 1;
    std::vector<Snapshot> snapshots;

    const Snapshot* find(const std::string& name) const;
    // Where the next overlay goes (and bumps the counter).
    std::string take_overlay_path();
    // The active image is an overlay of ours (not the configured disk, not a snapshot).
    bool active_is_overlay() const;
};

// Snapshot names: 1..64 of [A-Za-z0-9._-], not starting with '.' or '-'.
Result<void> check_snapshot_name(const std::string& name);

// The index directory of a disk whose active image is `active`: the directory the
// overlay sits in when it is one of ours, otherwise `<active>.snapshots`.
std::string snapshot_dir_for(const std::string& active);

// Reads the index of the disk whose active image is `active` (format `format`); a disk
// without snapshots gets a fresh index (nothing is written until save).
Result<SnapshotIndex> load_snapshot_index(const std::string& active, const std::string& format);
// Durably replaces index.json (creating the directory): the old index or the new one
// survives a crash, never half of one.
Result<void> save_snapshot_index(const SnapshotIndex& index);

// The index as index.json holds it, and back (`dir` is where it lives); for the journal
// of snapshot operations too.
nlohmann::json snapshot_index_json(const SnapshotIndex& index);
Result<SnapshotIndex> snapshot_index_from_json(const nlohmann::json& json, const std::string& dir);

}  // namespace domus::toolstack
