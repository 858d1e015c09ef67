// domusd: rate limits changed on running domains (`domus vif-rate`, `domus block-rate`):
// the monitor applies the new limit at once, and the domain's recorded configuration
// (its VIFSPEC or DISKSPEC) keeps it for a restart.
#include "config/disk_spec.hpp"
#include "config/rate_spec.hpp"
#include "config/vif_spec.hpp"
#include "toolstack/daemon.hpp"
#include "toolstack/vif_attach.hpp"

namespace domus::toolstack {
namespace {

// The entry's disk whose vdev is `vdev`.
Result<std::size_t> disk_index(const std::vector<std::string>& disks, const std::string& vdev) {
    for (std::size_t i = 0; i < disks.size(); ++i) {
        DOMUS_TRY(spec, config::parse_disk_spec(disks[i]));
        if (spec.vdev == vdev) return i;
    }
    return make_error("the domain has no disk {}", vdev);
}

}  // namespace

Result<nlohmann::json> Daemon::vif_rate(const nlohmann::json& request) {
    DOMUS_TRY(entry, find(request));
    std::string text = request.at("rate").get<std::string>();
    std::optional<config::VifRate> rate;
    if (text != "off" && text != "none") {
        auto parsed = config::parse_vif_rate(text);
        if (!parsed) return make_error("rate: {}", parsed.error().message);
        rate = *parsed;
    }
    std::lock_guard devices(entry->devices_mutex);
    std::vector<std::string> vifs;
    {
        std::lock_guard lock(mutex_);
        vifs = entry->spec.vif;
    }
    DOMUS_TRY(index, find_vif(vifs, request.at("vif").get<std::string>()));
    DOMUS_TRY(spec, config::parse_vif_spec(vifs[index]));
    DOMUS_TRY_VOID(device_request(
        *entry, {{"op", "vif-rate"},
                 {"devid", *spec.devid},
                 {"bytes_per_interval", rate ? rate->bytes_per_interval : 0},
                 {"interval_us", rate ? rate->interval_us : std::uint32_t(50'000)}}));
    spec.rate = rate;
    {
        std::lock_guard lock(mutex_);
        if (index < entry->spec.vif.size() && entry->spec.vif[index] == vifs[index])
            entry->spec.vif[index] = config::to_vif_spec(spec);
    }
    save_record(*entry);
    return nlohmann::json{{"devid", *spec.devid},
                          {"rate", rate ? config::format_vif_rate(*rate) : "off"}};
}

Result<nlohmann::json> Daemon::block_rate(const nlohmann::json& request) {
    DOMUS_TRY(entry, find(request));
    std::string vdev = request.at("vdev").get<std::string>();
    std::lock_guard devices(entry->devices_mutex);
    std::vector<std::string> disks;
    {
        std::lock_guard lock(mutex_);
        disks = entry->spec.disk;
    }
    DOMUS_TRY(index, disk_index(disks, vdev));
    DOMUS_TRY(spec, config::parse_disk_spec(disks[index]));
    spec.rate_bytes = request.value("rate_bytes", spec.rate_bytes);
    spec.rate_iops = request.value("rate_iops", spec.rate_iops);
    DOMUS_TRY_VOID(device_request(*entry, {{"op", "block-rate"},
                                           {"vdev", vdev},
                                           {"rate_bytes", spec.rate_bytes},
                                           {"rate_iops", spec.rate_iops}}));
    {
        std::lock_guard lock(mutex_);
        if (index < entry->spec.disk.size() && entry->spec.disk[index] == disks[index])
            entry->spec.disk[index] = config::to_disk_spec(spec);
    }
    save_record(*entry);
    return nlohmann::json{
        {"vdev", vdev}, {"rate_bytes", spec.rate_bytes}, {"rate_iops", spec.rate_iops}};
}

}  // namespace domus::toolstack
