// domusd: devices of running domains. Block hot-plug (xl block-attach, block-detach,
// block-list) and disk snapshots. The monitor does the device work; the daemon keeps
// the domain's configuration in step (a restart gets the disks as they are now) and the
// snapshot indexes (snapshot_index.hpp).
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "base/log.hpp"
#include "config/disk_spec.hpp"
#include "storage/image_create.hpp"
#include "storage/image_lock.hpp"
#include "toolstack/crash_point.hpp"
#include "toolstack/daemon.hpp"
#include "toolstack/json_socket.hpp"
#include "toolstack/monitor_files.hpp"
#include "toolstack/snapshot_index.hpp"
#include "toolstack/snapshot_journal.hpp"

namespace domus::toolstack {
namespace {

// Generous: the monitor waits for the guest (detach) or for I/O to drain (snapshot).
constexpr auto kDeviceRequestTimeout = std::chrono::seconds(90);

storage::Format format_of(const std::string& name) {
    return name == "qcow2" ? storage::Format::qcow2 : storage::Format::raw;
}

// The entry's disk whose vdev (or device number) is `key`.
Result<std::size_t> find_disk(const std::vector<std::string>& disks, const std::string& key) {
    for (std::size_t i = 0; i < disks.size(); ++i) {
        DOMUS_TRY(spec, config::parse_disk_spec(disks[i]));
        if (spec.vdev == key || std::to_string(spec.virtual_device) == key) return i;
    }
    return make_error("the domain has no disk {}", key);
}

void remove_overlays(const SnapshotIntent& intent) {
    for (const auto& d : intent.disks)
        std::filesystem::remove(d.overlay);
}

// A snapshot create or revert that fails before its disks switched: the overlays made so
// far go (nothing refers to them yet) and `error` is passed on.
Error abandon(const SnapshotIntent& intent, Error error) {
    remove_overlays(intent);
    return error;
}

// A fresh qcow2 overlay over `backing` (an image in `backing_format`) at the index's next
// overlay path; returns that path.
Result<std::string> create_overlay(SnapshotIndex& index, const std::string& backing,
                                   const std::string& backing_format) {
    std::string overlay = index.take_overlay_path();
    DOMUS_TRY_VOID(storage::create_image(overlay, std::nullopt, storage::Format::qcow2, backing,
                                         storage::kDefaultClusterSize, format_of(backing_format)));
    return overlay;
}

// The monitor request that switches every disk at one point (vCPUs paused).
nlohmann::json replace_request(const SnapshotIntent& intent) {
    nlohmann::json disks = nlohmann::json::array();
    for (const auto& d : intent.disks)
        disks.push_back({{"vdev", d.vdev}, {"target", d.overlay}, {"format", "qcow2"}});
    return {{"op", "disk-replace"}, {"disks", disks}};
}

// A disk's step of the operation: its new overlay becomes active in its index (based on
// snapshot `name`), and its DISKSPEC names the overlay.
SnapshotIntent::Disk switch_to_overlay(std::size_t disk, const config::DiskSpec& spec,
                                       SnapshotIndex index, std::string overlay,
                                       const std::string& name) {
    index.active = overlay;
    index.active_format = "qcow2";
    index.based_on = name;
    config::DiskSpec active = spec;
    active.target = overlay;
    active.format = "qcow2";
    SnapshotIntent::Disk step;
    step.disk = disk;
    step.vdev = spec.vdev;
    step.overlay = std::move(overlay);
    step.spec = config::to_disk_spec(active);
    step.index = std::move(index);
    return step;
}

}  // namespace

Result<nlohmann::json> Daemon::device_request(const Entry& entry, const nlohmann::json& request,
                                              const MonitorFiles* files) {
    nlohmann::json sent = request;
    std::vector<int> fds;
    if (files && !files->empty()) {
        sent["files"] = files->describe();
        fds = files->fds();
    }
    auto reply =
        json_request(run_dir_.control_socket(entry.domid), sent, kDeviceRequestTimeout, fds);
    if (!reply)
        return make_error("{}", storage::name_lock_holders(reply.error().message, entry.pid));
    return reply;
}

Result<nlohmann::json> Daemon::block_attach(const nlohmann::json& request) {
    DOMUS_TRY(entry, find(request));
    DOMUS_TRY(spec, config::parse_disk_spec(request.at("disk").get<std::string>()));
    if (spec.target.empty() || spec.target[0] != '/')
        return make_error("disk target must be absolute for the daemon: {}", spec.target);
    // Its files (the chain below a qcow2 image) as the monitor will open them: opened
    // here, before the monitor checks anything, so a missing file fails the same way.
    MonitorFiles files;
    DOMUS_TRY_VOID(files.add_disk(spec));
    DOMUS_TRY_VOID(files.add_connection(run_dir_.store_socket()));  // its backend's
    std::lock_guard devices(entry->devices_mutex);
    DOMUS_TRY_VOID(device_request(*entry,
                                  {{"op", "block-attach"},
                                   {"target", spec.target},
                                   {"format", spec.format},
                                   {"vdev", spec.vdev},
                                   {"virtual_device", spec.virtual_device},
                                   {"read_only", spec.read_only},
                                   {"discard", spec.discard},
                                   {"direct_io", spec.direct_io},
                                   {"rate_bytes", spec.rate_bytes},
                                   {"rate_iops", spec.rate_iops}},
                                  &files));
    {
        std::lock_guard lock(mutex_);
        entry->spec.disk.push_back(config::to_disk_spec(spec));
    }
    save_record(*entry);
    return nlohmann::json{{"vdev", spec.vdev}, {"devid", spec.virtual_device}};
}

Result<nlohmann::json> Daemon::block_detach(const nlohmann::json& request) {
    DOMUS_TRY(entry, find(request));
    std::string key = request.at("vdev").get<std::string>();
    std::lock_guard devices(entry->devices_mutex);
    DOMUS_TRY(index, find_disk(entry->spec.disk, key));
    DOMUS_TRY(spec, config::parse_disk_spec(entry->spec.disk[index]));
    DOMUS_TRY(reply, device_request(*entry, {{"op", "block-detach"},
                                             {"vdev", spec.vdev},
                                             {"force", request.value("force", false)},
                                             {"timeout_ms", request.value("timeout_ms", 10'000)}}));
    {
        std::lock_guard lock(mutex_);
        entry->spec.disk.erase(entry->spec.disk.begin() + std::ptrdiff_t(index));
    }
    save_record(*entry);
    return nlohmann::json{{"vdev", spec.vdev}, {"forced", reply.value("forced", false)}};
}

Result<nlohmann::json> Daemon::block_list(const nlohmann::json& request) {
    // What xl block-list shows, read from the store as xl does.
    DOMUS_TRY(entry, find(request));
    std::string domid = std::to_string(entry->domid);
    std::string backends = "/local/domain/0/backend/vbd/" + domid;
    nlohmann::json rows = nlohmann::json::array();
    auto ids = store_->directory(backends);
    for (const auto& id : ids ? *ids : std::vector<std::string>{}) {
        std::string be = backends + "/" + id;
        auto text = [&](const std::string& path) {
            auto value = store_->read(path);
            return value ? *value : std::string();
        };
        std::string fe = text(be + "/frontend");
        auto number = [&](const std::string& path) -> long {
            auto text = store_->read(path);
            if (!text || text->empty()) return -1;
            char* end = nullptr;
            long value = std::strtol(text->c_str(), &end, 10);
            return *end ? -1 : value;
        };
        rows.push_back({{"devid", id},
                        {"vdev", text(be + "/dev")},
                        {"backend_id", 0},
                        {"state", number(be + "/state")},
                        {"frontend_state", fe.empty() ? -1 : number(fe + "/state")},
                        {"event_channel", fe.empty() ? -1 : number(fe + "/event-channel")},
                        {"ring_ref", fe.empty() ? -1 : number(fe + "/ring-ref")},
                        {"params", text(be + "/params")},
                        {"backend_path", be}});
    }
    return nlohmann::json{{"disks", rows}};
}

std::string Daemon::snapshot_intent_path(const Entry& entry) const {
    return run_dir_.domain_dir(entry.domid) + "/snapshot-intent.json";
}

Result<nlohmann::json> Daemon::switch_disks(Entry& entry, const SnapshotIntent& intent) {
    if (auto written = write_snapshot_intent(snapshot_intent_path(entry), intent); !written) {
        remove_overlays(intent);
        return std::move(written).error();
    }
    crash_point("snapshot-intent-written");
    MonitorFiles files;
    for (const auto& d : intent.disks)
        if (auto added = files.add_chain(d.overlay, storage::Format::qcow2, true); !added) {
            undo_snapshot(entry, intent);
            return std::move(added).error();
        }
    auto replaced = device_request(entry, replace_request(intent), &files);
    if (!replaced) {
        // The monitor switches all disks or none: none did.
        undo_snapshot(entry, intent);
        return std::move(replaced).error();
    }
    crash_point("snapshot-switched");
    finish_snapshot(entry, intent);
    return replaced;
}

void Daemon::finish_snapshot(Entry& entry, const SnapshotIntent& intent) {
    // Each step may be a repeat (recovery): all of them are idempotent.
    for (const auto& d : intent.disks)
        if (auto saved = save_snapshot_index(d.index); !saved)
            DOMUS_LOG_ERROR("domusd", "{} ({}): {}", d.vdev, intent.name, saved.error().message);
    crash_point("snapshot-indexes-saved");
    {
        std::lock_guard lock(mutex_);
        for (const auto& d : intent.disks)
            if (d.disk < entry.spec.disk.size()) entry.spec.disk[d.disk] = d.spec;
    }
    save_record(entry);
    // What the switch abandoned (a reverted overlay) holds nothing anyone refers to now.
    for (const auto& d : intent.disks)
        if (!d.abandoned.empty()) std::filesystem::remove(d.abandoned);
    std::filesystem::remove(snapshot_intent_path(entry));
}

void Daemon::undo_snapshot(Entry& entry, const SnapshotIntent& intent) {
    remove_overlays(intent);
    std::filesystem::remove(snapshot_intent_path(entry));
}

void Daemon::recover_snapshot(Entry& entry) {
    auto intent = read_snapshot_intent(snapshot_intent_path(entry));
    if (!intent || !*intent) {
        if (!intent)
            DOMUS_LOG_ERROR("domusd", "domain {}: {}", entry.domid, intent.error().message);
        return;
    }
    if ((*intent)->operation == "delete") {
        // Never undone: every prefix of a delete reads the same, so it is finished.
        auto done = finish_delete(entry, **intent);
        if (!done)
            DOMUS_LOG_ERROR("domusd", "domain {}: snapshot delete \"{}\" left unfinished: {}",
                            entry.domid, (*intent)->name, done.error().message);
        else
            DOMUS_LOG_INFO("domusd", "domain {}: snapshot delete \"{}\" completed after a restart",
                           entry.domid, (*intent)->name);
        return;
    }
    auto reply = device_request(entry, {{"op", "disk-images"}});
    std::vector<std::pair<std::string, std::string>> images;
    if (reply)
        for (const auto& disk : reply->value("disks", nlohmann::json::array()))
            images.emplace_back(disk.value("vdev", ""), disk.value("target", ""));
    auto switched =
        reply ? snapshot_intent_switched(**intent, images) : Result<bool>(std::move(reply).error());
    if (!switched) {
        // Keep the intent: the next recovery asks again; nothing is lost meanwhile.
        DOMUS_LOG_ERROR("domusd", "domain {}: snapshot \"{}\" left unresolved: {}", entry.domid,
                        (*intent)->name, switched.error().message);
        return;
    }
    DOMUS_LOG_INFO("domusd", "domain {}: snapshot {} \"{}\" {} after a restart", entry.domid,
                   (*intent)->operation, (*intent)->name, *switched ? "completed" : "undone");
    if (*switched)
        finish_snapshot(entry, **intent);
    else
        undo_snapshot(entry, **intent);
}

Result<nlohmann::json> Daemon::snapshot_create(const nlohmann::json& request) {
    DOMUS_TRY(entry, find(request));
    std::string name = request.at("name").get<std::string>();
    DOMUS_TRY_VOID(check_snapshot_name(name));
    std::lock_guard devices(entry->devices_mutex);
    // Every writable disk gets an overlay over its active image, which becomes snapshot
    // `name`, frozen from the switch on.
    SnapshotIntent intent{"create", name, {}};
    double now = double(std::time(nullptr));
    for (std::size_t i = 0; i < entry->spec.disk.size(); ++i) {
        auto spec = config::parse_disk_spec(entry->spec.disk[i]);
        if (!spec) return abandon(intent, std::move(spec).error());
        if (spec->read_only) continue;
        auto index = load_snapshot_index(spec->target, spec->format);
        if (!index) return abandon(intent, std::move(index).error());
        if (index->find(name))
            return abandon(intent,
                           make_error("{} already has a snapshot \"{}\"", spec->vdev, name));
        std::error_code error;
        if (!std::filesystem::exists(spec->target, error))
            return abandon(intent,
                           make_error("{}: its image {} is missing", spec->vdev, spec->target));
        std::filesystem::create_directory(index->dir, error);
        if (error)
            return abandon(intent, make_error("cannot create {}: {}", index->dir, error.message()));
        auto overlay = create_overlay(*index, spec->target, spec->format);
        if (!overlay) return abandon(intent, std::move(overlay).error());
        index->snapshots.push_back({name, index->active, index->active_format, now});
        intent.disks.push_back(
            switch_to_overlay(i, *spec, std::move(index).value(), *overlay, name));
    }
    if (intent.disks.empty()) return make_error("domain {} has no writable disk", entry->name);
    DOMUS_TRY(replaced, switch_disks(*entry, intent));
    nlohmann::json out = nlohmann::json::array();
    for (const auto& d : intent.disks)
        out.push_back(
            {{"vdev", d.vdev}, {"image", d.index.snapshots.back().image}, {"overlay", d.overlay}});
    return nlohmann::json{{"name", name}, {"disks", out}, {"paused_ms", replaced["paused_ms"]}};
}

Result<nlohmann::json> Daemon::snapshot_list(const nlohmann::json& request) {
    DOMUS_TRY(entry, find(request));
    std::lock_guard devices(entry->devices_mutex);
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& text : entry->spec.disk) {
        DOMUS_TRY(spec, config::parse_disk_spec(text));
        DOMUS_TRY(index, load_snapshot_index(spec.target, spec.format));
        for (const auto& snapshot : index.snapshots)
            rows.push_back({{"vdev", spec.vdev},
                            {"name", snapshot.name},
                            {"image", snapshot.image},
                            {"format", snapshot.format},
                            {"created_unix", snapshot.created_unix},
                            {"current", snapshot.name == index.based_on}});
    }
    return nlohmann::json{{"snapshots", rows}};
}

Result<nlohmann::json> Daemon::snapshot_revert(const nlohmann::json& request) {
    DOMUS_TRY(entry, find(request));
    std::string name = request.at("name").get<std::string>();
    std::lock_guard devices(entry->devices_mutex);
    // Every disk that has the snapshot gets a fresh overlay over it; the overlay it wrote
    // until now is abandoned (it holds only what was written since).
    SnapshotIntent intent{"revert", name, {}};
    for (std::size_t i = 0; i < entry->spec.disk.size(); ++i) {
        auto spec = config::parse_disk_spec(entry->spec.disk[i]);
        if (!spec) return abandon(intent, std::move(spec).error());
        auto index = load_snapshot_index(spec->target, spec->format);
        if (!index) return abandon(intent, std::move(index).error());
        const Snapshot* snapshot = index->find(name);
        if (!snapshot) continue;
        auto overlay = create_overlay(*index, snapshot->image, snapshot->format);
        if (!overlay) return abandon(intent, std::move(overlay).error());
        std::string abandoned = index->active_is_overlay() ? index->active : "";
        intent.disks.push_back(
            switch_to_overlay(i, *spec, std::move(index).value(), *overlay, name));
        intent.disks.back().abandoned = abandoned;
    }
    if (intent.disks.empty())
        return make_error("domain {} has no snapshot \"{}\"", entry->name, name);
    DOMUS_TRY(replaced, switch_disks(*entry, intent));
    return nlohmann::json{{"name", name}, {"paused_ms", replaced["paused_ms"]}};
}

}  // namespace domus::toolstack
