// SnapshotIndex: index.json in the disk's .snapshots directory.
#include "toolstack/snapshot_index.hpp"

#include "base/durable_file.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace domus::toolstack {
namespace {

constexpr const char* kSuffix = ".snapshots";
constexpr std::size_t kMaxName = 64;

std::string index_path(const std::string& dir) {
    return dir + "/index.json";
}

bool ends_with(const std::string& text, const std::string& tail) {
    return text.size() >= tail.size() &&
           text.compare(text.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

const Snapshot* SnapshotIndex::find(const std::string& name) const {
    for (const auto& snapshot : snapshots)
        if (snapshot.name == name) return &snapshot;
    return nullptr;
}

std::string SnapshotIndex::take_overlay_path() {
    return dir + "/overlay-" + std::to_string(next_overlay++) + ".qcow2";
}

bool SnapshotIndex::active_is_overlay() const {
    if (active == disk) return false;
    for (const auto& snapshot : snapshots)
        if (snapshot.image == active) return false;
    return std::filesystem::path(active).parent_path() == std::filesystem::path(dir);
}

Result<void> check_snapshot_name(const std::string& name) {
    if (name.empty() || name.size() > kMaxName)
        return make_error("a snapshot name has 1 to {} characters", kMaxName);
    if (name[0] == '.' || name[0] == '-')
        return make_error("snapshot name \"{}\" must not start with '.' or '-'", name);
    for (char c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
            return make_error("snapshot name \"{}\": only letters, digits, '.', '_' and '-'", name);
    return {};
}

std::string snapshot_dir_for(const std::string& active) {
    std::filesystem::path parent = std::filesystem::path(active).parent_path();
    if (ends_with(parent.string(), kSuffix) && std::filesystem::exists(index_path(parent.string())))
        return parent.string();
    return active + kSuffix;
}

Result<SnapshotIndex> load_snapshot_index(const std::string& active, const std::string& format) {
    SnapshotIndex index;
    index.dir = snapshot_dir_for(active);
    std::ifstream in(index_path(index.dir));
    if (!in) {
        if (std::filesystem::exists(index_path(index.dir)))
            return make_error("cannot read {}", index_path(index.dir));
        index.disk = index.active = active;
        index.active_format = format;
        return index;
    }
    auto json = nlohmann::json::parse(in, nullptr, false);
    auto parsed = snapshot_index_from_json(json, index.dir);
    if (!parsed)
        return make_error("{} is damaged: {}", index_path(index.dir), parsed.error().message);
    index = std::move(parsed).value();
    if (index.active != active)
        return make_error("{} says the disk's active image is {}, but the domain uses {}",
                          index_path(index.dir), index.active, active);
    return index;
}

nlohmann::json snapshot_index_json(const SnapshotIndex& index) {
    nlohmann::json snapshots = nlohmann::json::array();
    for (const auto& s : index.snapshots)
        snapshots.push_back({{"name", s.name},
                             {"image", s.image},
                             {"format", s.format},
                             {"created_unix", s.created_unix}});
    return {{"disk", index.disk},
            {"active", index.active},
            {"active_format", index.active_format},
            {"based_on", index.based_on},
            {"next_overlay", index.next_overlay},
            {"snapshots", snapshots}};
}

Result<SnapshotIndex> snapshot_index_from_json(const nlohmann::json& json, const std::string& dir) {
    SnapshotIndex index;
    index.dir = dir;
    try {
        if (json.is_discarded() || !json.is_object()) throw std::runtime_error("not a JSON object");
        index.disk = json.at("disk").get<std::string>();
        index.active = json.at("active").get<std::string>();
        index.active_format = json.at("active_format").get<std::string>();
        index.based_on = json.value("based_on", "");
        index.next_overlay = json.at("next_overlay").get<std::uint64_t>();
        for (const auto& s : json.at("snapshots"))
            index.snapshots.push_back(
                {s.at("name").get<std::string>(), s.at("image").get<std::string>(),
                 s.at("format").get<std::string>(), s.value("created_unix", 0.0)});
    } catch (const std::exception& error) {
        return make_error("{}", error.what());
    }
    return index;
}

Result<void> save_snapshot_index(const SnapshotIndex& index) {
    if (::mkdir(index.dir.c_str(), 0755) != 0 && errno != EEXIST)
        return errno_error("mkdir " + index.dir);
    return replace_file_durably(index_path(index.dir), snapshot_index_json(index).dump(2) + "\n");
}

}  // namespace domus::toolstack
