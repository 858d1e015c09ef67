// domusd: `snapshot delete`, live and crash-safe. The plan (snapshot_delete.hpp) is
// journaled first; then frozen children get merged copies, the monitor streams into the
// active overlay, the index drops the snapshot, and its file goes last. Each step keeps
// every image reading the same bytes, so a recovering daemon simply finishes the rest.
#include <filesystem>

#include "base/log.hpp"
#include "config/disk_spec.hpp"
#include "storage/image_merge.hpp"
#include "toolstack/crash_point.hpp"
#include "toolstack/daemon.hpp"
#include "toolstack/monitor_files.hpp"
#include "toolstack/snapshot_delete.hpp"

namespace domus::toolstack {
namespace {

bool same_file(const std::string& a, const std::string& b) {
    return std::filesystem::path(a).lexically_normal() ==
           std::filesystem::path(b).lexically_normal();
}

storage::Format backing_format(const std::string& name) {
    if (name == "qcow2") return storage::Format::qcow2;
    if (name == "raw") return storage::Format::raw;
    return storage::Format::autodetect;
}

// Refuses, before anything changes, an image another process holds in a way that a
// delete cannot share (a writer of a frozen image): opening the chains read-only takes
// the same lock bytes the merge will.
Result<void> check_not_locked(const SnapshotIntent::Disk& d) {
    auto opened = storage::open_image(d.removed, storage::Format::qcow2, true);
    if (!opened) return make_error("{}: {}", d.vdev, opened.error().message);
    for (const auto& child : d.children) {
        auto open = storage::open_image(child, storage::Format::qcow2, true);
        if (!open) return make_error("{}: {}", d.vdev, open.error().message);
    }
    return {};
}

}  // namespace

Result<nlohmann::json> Daemon::snapshot_delete(const nlohmann::json& request) {
    DOMUS_TRY(entry, find(request));
    std::string name = request.at("name").get<std::string>();
    std::lock_guard devices(entry->devices_mutex);
    SnapshotIntent intent{"delete", name, {}};
    for (std::size_t i = 0; i < entry->spec.disk.size(); ++i) {
        DOMUS_TRY(spec, config::parse_disk_spec(entry->spec.disk[i]));
        DOMUS_TRY(index, load_snapshot_index(spec.target, spec.format));
        if (!index.find(name)) continue;
        auto plan = plan_snapshot_delete(index, name, backing_from_header);
        if (!plan) return make_error("{}: {}", spec.vdev, plan.error().message);
        SnapshotIntent::Disk disk;
        disk.disk = i;
        disk.vdev = spec.vdev;
        disk.overlay = index.active;
        disk.spec = entry->spec.disk[i];
        disk.index = std::move(plan->index);
        disk.removed = plan->removed;
        disk.backing = plan->backing.path;
        disk.backing_format = plan->backing.format;
        disk.children = plan->children;
        disk.active_child = plan->active_child;
        DOMUS_TRY_VOID(check_not_locked(disk));
        intent.disks.push_back(std::move(disk));
    }
    if (intent.disks.empty())
        return make_error("domain {} has no snapshot \"{}\"", entry->name, name);
    DOMUS_TRY_VOID(write_snapshot_intent(snapshot_intent_path(*entry), intent));
    crash_point("snapshot-delete-intent-written");
    auto done = finish_delete(*entry, intent);
    if (!done) {
        // Every step so far kept each image reading the same bytes and the index still
        // names the snapshot: the delete is simply not done. Nothing to undo.
        std::filesystem::remove(snapshot_intent_path(*entry));
        return make_error("snapshot \"{}\" not deleted: {}", name, done.error().message);
    }
    return done;
}

Result<nlohmann::json> Daemon::finish_delete(Entry& entry, const SnapshotIntent& intent) {
    // Each step may be a repeat (recovery): a child whose header already names the new
    // backing file was merged; the monitor's rebase of an overlay already over it is a
    // reopen; saving the index and removing a removed file are idempotent.
    nlohmann::json disks = nlohmann::json::array();
    std::uint64_t total = 0;
    double longest_hold_ms = 0;
    for (const auto& d : intent.disks) {
        std::uint64_t bytes = 0;      // from the deleted image
        std::uint64_t rewritten = 0;  // into merged copies (their own data too)
        std::size_t merged = 0;
        for (const auto& child : d.children) {
            DOMUS_TRY(over, backing_from_header(child));
            if (same_file(over.path, d.backing)) continue;
            if (!same_file(over.path, d.removed))
                return make_error("{}: {} now reads through {}, not {}", d.vdev, child, over.path,
                                  d.removed);
            DOMUS_TRY(written, storage::replace_with_merged_copy(child, d.backing,
                                                                 backing_format(d.backing_format)));
            bytes += written.merged;
            rewritten += written.written;
            ++merged;
            crash_point("snapshot-delete-child-merged");
        }
        // The monitor streams into the active overlay when it sits on the snapshot, and in
        // any case reopens its chain so that no file the delete drops stays open: the
        // chain below the active overlay as its header names it, or below `backing`.
        MonitorFiles files;
        DOMUS_TRY_VOID(
            files.add_chain(d.index.active, backing_format(d.index.active_format), false));
        DOMUS_TRY_VOID(files.add_chain(d.backing, backing_format(d.backing_format), false));
        DOMUS_TRY(rebased, device_request(entry,
                                          {{"op", "disk-rebase"},
                                           {"vdev", d.vdev},
                                           {"image", d.removed},
                                           {"backing", d.backing},
                                           {"backing_format", d.backing_format}},
                                          &files));
        std::uint64_t streamed = rebased.value("bytes", std::uint64_t(0));
        bytes += streamed;
        rewritten += streamed;
        longest_hold_ms = std::max(longest_hold_ms, rebased.value("longest_hold_ms", 0.0));
        crash_point("snapshot-delete-rebased");
        total += bytes;
        disks.push_back({{"vdev", d.vdev},
                         {"image", d.removed},
                         {"children_merged", merged},
                         {"active_merged", rebased.value("streamed", false)},
                         {"bytes", bytes},
                         {"written", rewritten}});
    }
    // Only now may the index forget the snapshot: every image that read through it has
    // its data and names its backing file instead.
    for (const auto& d : intent.disks)
        DOMUS_TRY_VOID(save_snapshot_index(d.index));
    crash_point("snapshot-delete-index-saved");
    for (const auto& d : intent.disks)
        std::filesystem::remove(d.removed);
    std::filesystem::remove(snapshot_intent_path(entry));
    DOMUS_LOG_INFO("domusd", "domain {}: snapshot \"{}\" deleted, {} bytes merged", entry.domid,
                   intent.name, total);
    return nlohmann::json{{"name", intent.name},
                          {"disks", disks},
                          {"bytes", total},
                          {"longest_hold_ms", longest_hold_ms},
                          {"paused_ms", 0.0}};
}

}  // namespace domus::toolstack
