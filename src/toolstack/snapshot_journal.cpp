// SnapshotJournal: the intent as JSON, written durably, and the recovery decision.
#include "toolstack/snapshot_journal.hpp"

#include <fstream>
#include <nlohmann/json.hpp>

#include "base/durable_file.hpp"

namespace domus::toolstack {

Result<void> write_snapshot_intent(const std::string& path, const SnapshotIntent& intent) {
    nlohmann::json disks = nlohmann::json::array();
    for (const auto& d : intent.disks)
        disks.push_back({{"disk", d.disk},
                         {"vdev", d.vdev},
                         {"overlay", d.overlay},
                         {"spec", d.spec},
                         {"abandoned", d.abandoned},
                         {"index_dir", d.index.dir},
                         {"index", snapshot_index_json(d.index)},
                         {"removed", d.removed},
                         {"backing", d.backing},
                         {"backing_format", d.backing_format},
                         {"children", d.children},
                         {"active_child", d.active_child}});
    nlohmann::json json = {
        {"operation", intent.operation}, {"name", intent.name}, {"disks", disks}};
    return replace_file_durably(path, json.dump(2) + "\n");
}

Result<std::optional<SnapshotIntent>> read_snapshot_intent(const std::string& path) {
    std::ifstream in(path);
    if (!in) return std::optional<SnapshotIntent>();
    auto json = nlohmann::json::parse(in, nullptr, false);
    SnapshotIntent intent;
    try {
        if (json.is_discarded() || !json.is_object()) throw std::runtime_error("not a JSON object");
        intent.operation = json.at("operation").get<std::string>();
        intent.name = json.at("name").get<std::string>();
        for (const auto& d : json.at("disks")) {
            auto index =
                snapshot_index_from_json(d.at("index"), d.at("index_dir").get<std::string>());
            if (!index) throw std::runtime_error(index.error().message);
            SnapshotIntent::Disk& disk = intent.disks.emplace_back();
            disk.disk = d.at("disk").get<std::size_t>();
            disk.vdev = d.at("vdev").get<std::string>();
            disk.overlay = d.at("overlay").get<std::string>();
            disk.spec = d.at("spec").get<std::string>();
            disk.abandoned = d.at("abandoned").get<std::string>();
            disk.index = std::move(index).value();
            disk.removed = d.value("removed", "");
            disk.backing = d.value("backing", "");
            disk.backing_format = d.value("backing_format", "");
            disk.children = d.value("children", std::vector<std::string>{});
            disk.active_child = d.value("active_child", false);
        }
    } catch (const std::exception& error) {
        return make_error("{} is damaged: {}", path, error.what());
    }
    return std::optional<SnapshotIntent>(std::move(intent));
}

Result<bool> snapshot_intent_switched(
    const SnapshotIntent& intent, const std::vector<std::pair<std::string, std::string>>& images) {
    std::size_t switched = 0;
    for (const auto& disk : intent.disks)
        for (const auto& [vdev, image] : images)
            if (vdev == disk.vdev && image == disk.overlay) ++switched;
    if (switched == intent.disks.size()) return true;
    if (switched == 0) return false;
    return make_error("snapshot \"{}\": {} of {} disks use their new overlay", intent.name,
                      switched, intent.disks.size());
}

}  // namespace domus::toolstack
