// Device requests: JSON in, BlockDevices calls, JSON out.
#include "monitor/device_requests.hpp"

#include "config/device_specs.hpp"
#include "config/vif_spec.hpp"
#include "monitor/domain.hpp"
#include "storage/qcow2_backing.hpp"

namespace domus::monitor {
namespace {

constexpr std::int64_t kMaxDetachTimeoutMs = 600'000;

Result<config::DiskFormat> format_of(const nlohmann::json& request) {
    std::string name = request.value("format", "raw");
    if (auto format = config::parse_disk_format(name)) return *format;
    return make_error("unknown disk format \"{}\"", name);
}

Result<nlohmann::json> attach(BlockDevices& devices, const nlohmann::json& request) {
    DOMUS_TRY(format, format_of(request));
    config::VbdConfig config;
    config.target = request.at("target").get<std::string>();
    config.format = format;
    config.vdev = request.at("vdev").get<std::string>();
    config.virtual_device = request.at("virtual_device").get<std::uint32_t>();
    config.read_only = request.value("read_only", false);
    config.discard = request.value("discard", true);
    config.direct_io = request.value("direct_io", false);
    config.rate_bytes = request.value("rate_bytes", std::uint64_t(0));
    config.rate_iops = request.value("rate_iops", std::uint64_t(0));
    if (config.target.empty() || config.vdev.empty()) return make_error("no target or vdev");
    DOMUS_TRY_VOID(devices.attach(config));
    return nlohmann::json::object();
}

Result<nlohmann::json> detach(BlockDevices& devices, const nlohmann::json& request) {
    std::int64_t timeout = request.value("timeout_ms", std::int64_t(10'000));
    if (timeout < 0 || timeout > kMaxDetachTimeoutMs)
        return make_error("timeout_ms must be 0..{}", kMaxDetachTimeoutMs);
    DOMUS_TRY(forced,
              devices.detach(request.at("vdev").get<std::string>(), request.value("force", false),
                             std::chrono::milliseconds(timeout)));
    return nlohmann::json{{"forced", forced}};
}

Result<nlohmann::json> replace(BlockDevices& devices, const nlohmann::json& request) {
    std::vector<BlockDevices::Replacement> replacements;
    for (const auto& disk : request.at("disks")) {
        DOMUS_TRY(format, format_of(disk));
        replacements.push_back(
            {disk.at("vdev").get<std::string>(), disk.at("target").get<std::string>(), format});
    }
    if (replacements.empty()) return make_error("no disks given");
    DOMUS_TRY(paused_ms, devices.replace_images(replacements));
    return nlohmann::json{{"paused_ms", paused_ms}};
}

Result<nlohmann::json> rebase(BlockDevices& devices, const nlohmann::json& request) {
    std::string format_name = request.value("backing_format", "qcow2");
    DOMUS_TRY(format, storage::backing_format_from_name(format_name));
    std::string removed = request.at("image").get<std::string>();
    std::string backing = request.at("backing").get<std::string>();
    if (removed.empty() || backing.empty()) return make_error("no image or backing given");
    DOMUS_TRY(done, devices.rebase_image(request.at("vdev").get<std::string>(), removed, backing,
                                         format));
    return nlohmann::json{{"bytes", done.bytes},
                          {"streamed", done.streamed},
                          {"longest_hold_ms", done.longest_hold_ms},
                          {"paused_ms", 0.0}};
}

Result<nlohmann::json> images(BlockDevices& devices) {
    nlohmann::json disks = nlohmann::json::array();
    for (const auto& [vdev, target] : devices.images())
        disks.push_back({{"vdev", vdev}, {"target", target}});
    return nlohmann::json{{"disks", disks}};
}

Result<nlohmann::json> flush(BlockDevices& devices) {
    DOMUS_TRY_VOID(devices.flush_images());
    return nlohmann::json::object();
}

// The VIFSPEC comes from domusd with its devid and MAC settled.
Result<nlohmann::json> attach_vif(Domain& domain, NetDevices& devices,
                                  const nlohmann::json& request) {
    DOMUS_TRY(spec, config::parse_vif_spec(request.at("vif").get<std::string>()));
    if (!spec.devid || !spec.mac) return make_error("the vif's devid and mac must be settled");
    auto config = config::vif_config(spec, domain.domid());
    DOMUS_TRY_VOID(devices.attach(config));
    return nlohmann::json{{"devid", config.devid}, {"ifname", config.ifname}};
}

Result<nlohmann::json> detach_vif(NetDevices& devices, const nlohmann::json& request) {
    std::int64_t timeout = request.value("timeout_ms", std::int64_t(10'000));
    if (timeout < 0 || timeout > kMaxDetachTimeoutMs)
        return make_error("timeout_ms must be 0..{}", kMaxDetachTimeoutMs);
    DOMUS_TRY(forced,
              devices.detach(request.at("devid").get<std::uint32_t>(),
                             request.value("force", false), std::chrono::milliseconds(timeout)));
    return nlohmann::json{{"forced", forced}};
}

// {"devid":N, "bytes_per_interval":B, "interval_us":U}; B = 0: unlimited.
Result<nlohmann::json> vif_rate(NetDevices& devices, const nlohmann::json& request) {
    std::optional<config::VifRate> rate;
    auto bytes = request.value("bytes_per_interval", std::uint64_t(0));
    auto interval = request.value("interval_us", std::uint32_t(50'000));
    if (interval == 0 || interval > 1'000'000) return make_error("interval_us must be 1..1000000");
    if (bytes > 0) rate = config::VifRate{bytes, interval};
    DOMUS_TRY_VOID(devices.set_rate(request.at("devid").get<std::uint32_t>(), rate));
    return nlohmann::json::object();
}

Result<nlohmann::json> block_rate(BlockDevices& devices, const nlohmann::json& request) {
    DOMUS_TRY_VOID(devices.set_rate(request.at("vdev").get<std::string>(),
                                    request.value("rate_bytes", std::uint64_t(0)),
                                    request.value("rate_iops", std::uint64_t(0))));
    return nlohmann::json::object();
}

}  // namespace

bool is_device_request(const std::string& op) {
    return op == "block-attach" || op == "block-detach" || op == "disk-replace" ||
           op == "disk-rebase" || op == "disk-images" || op == "network-attach" ||
           op == "network-detach" || op == "vif-rate" || op == "block-rate" || op == "disks-flush";
}

nlohmann::json handle_device_request(Domain& domain, const nlohmann::json& request) {
    Result<nlohmann::json> reply = make_error("not a device request");
    BlockDevices* devices = domain.block_devices();
    std::string op = request.value("op", "");
    try {
        NetDevices* vifs = domain.net_devices();
        if ((op == "network-attach" || op == "network-detach" || op == "vif-rate") && !vifs)
            reply = make_error("the domain has no store connection, so no PV devices");
        else if (op == "network-attach" && domain.stopping())
            reply = make_error("the domain has shut down");
        else if (op == "network-attach")
            reply = attach_vif(domain, *vifs, request);
        else if (op == "network-detach")
            reply = detach_vif(*vifs, request);
        else if (op == "vif-rate")
            reply = vif_rate(*vifs, request);
        else if (!devices)
            reply = make_error("the domain has no store connection, so no PV devices");
        else if (op == "block-attach" && domain.stopping())
            reply = make_error("the domain has shut down");
        else if (op == "block-attach")
            reply = attach(*devices, request);
        else if (op == "block-detach")
            reply = detach(*devices, request);
        else if (op == "disk-replace")
            reply = replace(*devices, request);
        else if (op == "disk-rebase")
            reply = rebase(*devices, request);
        else if (op == "disk-images")
            reply = images(*devices);
        else if (op == "block-rate")
            reply = block_rate(*devices, request);
        else if (op == "disks-flush")
            reply = flush(*devices);
    } catch (const nlohmann::json::exception& error) {
        reply = make_error("bad request: {}", error.what());
    }
    if (!reply) return {{"ok", false}, {"error", reply.error().message}};
    nlohmann::json out = std::move(reply).value();
    out["ok"] = true;
    return out;
}

}  // namespace domus::monitor
