// snapshot_delete: planning a snapshot delete (snapshot_delete.hpp has the model).
#include "toolstack/snapshot_delete.hpp"

#include <filesystem>

#include "storage/image_info.hpp"
#include "storage/qcow2_backing.hpp"

namespace domus::toolstack {
namespace {

bool same_file(const std::string& a, const std::string& b) {
    return std::filesystem::path(a).lexically_normal() ==
           std::filesystem::path(b).lexically_normal();
}

}  // namespace

Result<BackingFile> backing_from_header(const std::string& image) {
    DOMUS_TRY(info, storage::image_info(image));
    if (info.backing_file.empty()) return BackingFile{};
    return BackingFile{storage::resolve_backing_path(image, info.backing_file),
                       info.backing_format};
}

Result<SnapshotDeletePlan> plan_snapshot_delete(const SnapshotIndex& index, const std::string& name,
                                                const BackingLookup& backing_of) {
    const Snapshot* snapshot = index.find(name);
    if (!snapshot) return make_error("{} has no snapshot \"{}\"", index.disk, name);
    if (same_file(snapshot->image, index.disk))
        return make_error(
            "snapshot \"{}\" is the disk image as configured ({}): every other snapshot of the "
            "disk reads through it, and domus does not delete or rewrite a file it did not "
            "create; delete the snapshots taken after it instead",
            name, index.disk);
    if (!same_file(std::filesystem::path(snapshot->image).parent_path().string(), index.dir))
        return make_error("snapshot \"{}\": its image {} is not in {}", name, snapshot->image,
                          index.dir);
    if (snapshot->format != "qcow2")
        return make_error("snapshot \"{}\": its image {} is {}, not qcow2", name, snapshot->image,
                          snapshot->format);
    if (same_file(snapshot->image, index.active))
        return make_error("snapshot \"{}\": its image {} is the active image", name,
                          snapshot->image);

    SnapshotDeletePlan plan;
    plan.removed = snapshot->image;
    DOMUS_TRY(below, backing_of(snapshot->image));
    if (below.path.empty())
        return make_error("snapshot \"{}\": its image {} has no backing file to merge into", name,
                          snapshot->image);
    plan.backing = below;
    for (const auto& other : index.snapshots) {
        if (other.name == name) continue;
        DOMUS_TRY(over, backing_of(other.image));
        if (!over.path.empty() && same_file(over.path, snapshot->image))
            plan.children.push_back(other.image);
    }
    DOMUS_TRY(active, backing_of(index.active));
    plan.active_child = !active.path.empty() && same_file(active.path, snapshot->image);

    plan.index = index;
    std::erase_if(plan.index.snapshots, [&](const Snapshot& s) { return s.name == name; });
    if (plan.index.based_on == name) {
        // The active overlay reads through P from now on: P's snapshot is the current one.
        plan.index.based_on.clear();
        for (const auto& s : plan.index.snapshots)
            if (same_file(s.image, below.path)) plan.index.based_on = s.name;
    }
    return plan;
}

}  // namespace domus::toolstack
