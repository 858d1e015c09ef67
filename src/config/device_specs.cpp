// Device strings to DomainConfig device lists.
#include "config/device_specs.hpp"

#include <random>

namespace domus::config {

VbdConfig vbd_config(const DiskSpec& spec) {
    // parse_disk_spec accepted the format, so it has a name here.
    return VbdConfig{
        .target = spec.target,
        .format = parse_disk_format(spec.format).value_or(DiskFormat::raw),
        .vdev = spec.vdev,
        .virtual_device = spec.virtual_device,
        .read_only = spec.read_only,
        .discard = spec.discard,
        .direct_io = spec.direct_io,
        .rate_bytes = spec.rate_bytes,
        .rate_iops = spec.rate_iops,
    };
}

std::vector<ChannelConfig> channel_configs(const std::vector<ChannelSpec>& specs,
                                           std::uint32_t first_devid) {
    std::vector<ChannelConfig> out;
    for (std::size_t i = 0; i < specs.size(); ++i)
        out.push_back({specs[i].name, specs[i].path, first_devid + std::uint32_t(i)});
    return out;
}

VifConfig vif_config(const VifSpec& spec, std::uint16_t domid) {
    VifConfig config{
        .devid = spec.devid.value_or(0),
        .mac = {},
        .ifname = spec.vifname,
        .script = spec.script,
        .script_path = spec.script_path,
        .bridge = spec.bridge,
        .ips = spec.ips,
        .gatewaydev = spec.gatewaydev,
        .mtu = spec.mtu,
        .rate = spec.rate,
    };
    if (spec.mac) {
        config.mac = *spec.mac;
    } else {  // Xen's OUI and three random bytes, as libxl picks them
        std::random_device random;
        config.mac = {0x00,
                      0x16,
                      0x3e,
                      std::uint8_t(random() & 0x7f),
                      std::uint8_t(random()),
                      std::uint8_t(random())};
    }
    if (config.ifname.empty())
        config.ifname = "vif" + std::to_string(domid) + "." + std::to_string(config.devid);
    return config;
}

Result<void> add_devices(DomainConfig& config, const std::vector<std::string>& disks,
                         const std::vector<std::string>& channels,
                         const std::vector<std::string>& vifs) {
    std::vector<VbdConfig> vbds;
    for (const auto& text : disks) {
        DOMUS_TRY(spec, parse_disk_spec(text));
        vbds.push_back(vbd_config(spec));
    }
    DOMUS_TRY(specs, parse_channel_specs(channels));
    DOMUS_TRY(vif_specs, parse_vif_specs(vifs));
    for (const auto& vif : config.vifs)
        for (const auto& spec : vif_specs)
            if (spec.devid == vif.devid)
                return make_error("vif devid {} is given twice", vif.devid);
    config.disks.insert(config.disks.end(), vbds.begin(), vbds.end());
    for (const auto& spec : vif_specs)
        config.vifs.push_back(vif_config(spec, config.domid));
    // Numbered after any the caller listed already.
    for (auto& channel : channel_configs(specs, std::uint32_t(config.channels.size() + 1)))
        config.channels.push_back(std::move(channel));
    return {};
}

}  // namespace domus::config
