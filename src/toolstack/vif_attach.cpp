// settle_new_vif and find_vif (see vif_attach.hpp).
#include "toolstack/vif_attach.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "config/device_specs.hpp"

namespace domus::toolstack {

Result<config::VifSpec> settle_new_vif(const std::vector<std::string>& vifs,
                                       const std::string& text, std::uint16_t domid) {
    DOMUS_TRY(existing, config::parse_vif_specs(vifs));
    DOMUS_TRY(spec, config::parse_vif_spec(text));
    if (!spec.devid) {
        std::set<std::uint32_t> used;
        for (const auto& other : existing)
            used.insert(*other.devid);
        std::uint32_t devid = 0;
        while (used.count(devid))
            ++devid;
        if (devid > 255) return make_error("vif \"{}\": the domain has no free devid", text);
        spec.devid = devid;
    }
    if (!spec.mac) spec.mac = config::vif_config(spec, domid).mac;
    // The whole list, checked as at create: devids, MACs and names unique.
    std::vector<std::string> all = vifs;
    all.push_back(config::to_vif_spec(spec));
    DOMUS_TRY_VOID(config::parse_vif_specs(all));
    return spec;
}

Result<std::size_t> find_vif(const std::vector<std::string>& vifs, const std::string& key) {
    std::string lower = key;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return char(std::tolower(c)); });
    DOMUS_TRY(specs, config::parse_vif_specs(vifs));
    for (std::size_t i = 0; i < specs.size(); ++i) {
        if (std::to_string(*specs[i].devid) == key) return i;
        if (specs[i].mac && config::format_mac(*specs[i].mac) == lower) return i;
    }
    return make_error("the domain has no vif {} (give its devid or MAC)", key);
}

}  // namespace domus::toolstack
