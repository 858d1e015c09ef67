// domusd: vif hot-plug of running domains (xl network-attach, network-detach,
// network-list). The monitor makes or removes the device and its TAP; the daemon runs
// the vif's hotplug script around it and keeps the domain's configuration in step.
#include <cstdlib>

#include "base/log.hpp"
#include "config/device_specs.hpp"
#include "toolstack/daemon.hpp"
#include "toolstack/monitor_files.hpp"
#include "toolstack/vif_attach.hpp"
#include "toolstack/vif_hotplug.hpp"

namespace domus::toolstack {

Result<nlohmann::json> Daemon::network_attach(const nlohmann::json& request) {
    DOMUS_TRY(entry, find(request));
    std::lock_guard devices(entry->devices_mutex);
    std::vector<std::string> vifs;
    {
        std::lock_guard lock(mutex_);
        vifs = entry->spec.vif;
    }
    DOMUS_TRY(spec, settle_new_vif(vifs, request.at("vif").get<std::string>(), entry->domid));
    std::string text = config::to_vif_spec(spec);
    // Its TAP and the backend's store connection, made here: the monitor may do neither.
    auto config = config::vif_config(spec, entry->domid);
    MonitorFiles files;
    DOMUS_TRY_VOID(files.add_tap(config.ifname, config.mtu));
    DOMUS_TRY_VOID(files.add_connection(run_dir_.store_socket()));
    DOMUS_TRY(reply, device_request(*entry, {{"op", "network-attach"}, {"vif", text}}, &files));
    // The TAP is the device's now: its host side, as at create.
    if (auto online = vif_online(config, entry->domid, run_dir_.root); !online) {
        vif_offline(config, entry->domid, run_dir_.root);
        (void)device_request(
            *entry,
            {{"op", "network-detach"}, {"devid", *spec.devid}, {"force", true}, {"timeout_ms", 0}});
        return std::move(online).error();
    }
    {
        std::lock_guard lock(mutex_);
        entry->spec.vif.push_back(text);
    }
    save_record(*entry);
    return nlohmann::json{
        {"devid", *spec.devid}, {"mac", config::format_mac(*spec.mac)}, {"ifname", config.ifname}};
}

Result<nlohmann::json> Daemon::network_detach(const nlohmann::json& request) {
    DOMUS_TRY(entry, find(request));
    std::string key = request.at("vif").get<std::string>();
    std::lock_guard devices(entry->devices_mutex);
    std::vector<std::string> vifs;
    {
        std::lock_guard lock(mutex_);
        vifs = entry->spec.vif;
    }
    DOMUS_TRY(index, find_vif(vifs, key));
    DOMUS_TRY(spec, config::parse_vif_spec(vifs[index]));
    DOMUS_TRY(reply, device_request(*entry, {{"op", "network-detach"},
                                             {"devid", *spec.devid},
                                             {"force", request.value("force", false)},
                                             {"timeout_ms", request.value("timeout_ms", 10'000)}}));
    vif_offline(config::vif_config(spec, entry->domid), entry->domid, run_dir_.root);
    {
        std::lock_guard lock(mutex_);
        auto& list = entry->spec.vif;
        for (auto it = list.begin(); it != list.end(); ++it)
            if (*it == vifs[index]) {
                list.erase(it);
                break;
            }
    }
    save_record(*entry);
    return nlohmann::json{{"devid", *spec.devid}, {"forced", reply.value("forced", false)}};
}

Result<nlohmann::json> Daemon::network_list(const nlohmann::json& request) {
    // What xl network-list shows, read from the store as xl does.
    DOMUS_TRY(entry, find(request));
    std::string backends = "/local/domain/0/backend/vif/" + std::to_string(entry->domid);
    auto text = [&](const std::string& path) {
        auto value = store_->read(path);
        return value ? *value : std::string();
    };
    auto number = [&](const std::string& path) -> long {
        auto value = store_->read(path);
        if (!value || value->empty()) return -1;
        char* end = nullptr;
        long parsed = std::strtol(value->c_str(), &end, 10);
        return *end ? -1 : parsed;
    };
    nlohmann::json rows = nlohmann::json::array();
    auto ids = store_->directory(backends);
    for (const auto& id : ids ? *ids : std::vector<std::string>{}) {
        std::string be = backends + "/" + id;
        std::string fe = text(be + "/frontend");
        rows.push_back({{"devid", id},
                        {"backend_id", 0},
                        {"mac", text(be + "/mac")},
                        {"ifname", text(be + "/vifname")},
                        {"ip", text(be + "/ip")},
                        {"state", number(be + "/state")},
                        {"frontend_state", fe.empty() ? -1 : number(fe + "/state")},
                        {"event_channel", fe.empty() ? -1 : number(fe + "/event-channel")},
                        {"tx_ring_ref", fe.empty() ? -1 : number(fe + "/tx-ring-ref")},
                        {"rx_ring_ref", fe.empty() ? -1 : number(fe + "/rx-ring-ref")},
                        {"backend_path", be}});
    }
    return nlohmann::json{{"vifs", rows}};
}

}  // namespace domus::toolstack
