// VIFSPEC parsing (xl-network-configuration(5)).
#include "config/vif_spec.hpp"

#include <arpa/inet.h>
#include <net/if.h>

#include <charconv>
#include <set>

#include "config/spec_text.hpp"

namespace domus::config {
namespace {

template <typename T>
bool parse_number(std::string_view text, T& out) {
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
    return !text.empty() && error == std::errc() && end == text.data() + text.size();
}

// A Linux interface name: 1..15 bytes, no '/', no whitespace, not "." or "..".
bool valid_ifname(std::string_view name) {
    if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..") return false;
    for (char c : name)
        if (c == '/' || c == ':' || c <= ' ' || c == 0x7f) return false;
    return true;
}

// A.B.C.D or A.B.C.D/LEN (LEN 0..32).
bool valid_ipv4(std::string_view text) {
    auto slash = text.find('/');
    std::string address(text.substr(0, slash));
    in_addr parsed{};
    if (::inet_pton(AF_INET, address.c_str(), &parsed) != 1) return false;
    if (slash == std::string_view::npos) return true;
    unsigned length = 0;
    return parse_number(text.substr(slash + 1), length) && length <= 32;
}

}  // namespace

std::string_view vif_script_name(VifScript script) {
    switch (script) {
        case VifScript::bridge:
            return "vif-bridge";
        case VifScript::route:
            return "vif-route";
        case VifScript::nat:
            return "vif-nat";
    }
    return "?";
}

std::string format_mac(const MacAddress& mac) {
    static const char* kHex = "0123456789abcdef";
    std::string text;
    for (std::size_t i = 0; i < mac.size(); ++i) {
        if (i) text += ':';
        text += kHex[mac[i] >> 4];
        text += kHex[mac[i] & 0xf];
    }
    return text;
}

Result<MacAddress> parse_mac(std::string_view text) {
    MacAddress mac{};
    if (text.size() != 17) return make_error("\"{}\" is not six hex pairs XX:XX:XX:XX:XX:XX", text);
    for (std::size_t i = 0; i < 6; ++i) {
        if (i && text[i * 3 - 1] != ':')
            return make_error("\"{}\" is not six hex pairs XX:XX:XX:XX:XX:XX", text);
        std::string_view pair = text.substr(i * 3, 2);
        auto [end, error] = std::from_chars(pair.data(), pair.data() + 2, mac[i], 16);
        if (error != std::errc() || end != pair.data() + 2)
            return make_error("\"{}\" is not six hex pairs XX:XX:XX:XX:XX:XX", text);
    }
    if (mac[0] & 1) return make_error("{} is a multicast address", text);
    if (mac == MacAddress{}) return make_error("{} is the zero address", text);
    return mac;
}

Result<VifSpec> parse_vif_spec(std::string_view text) {
    VifSpec spec;
    DOMUS_TRY(items, spec_items(text, "vif"));
    bool bridge_given = false;
    for (const auto& [key, value] : items) {
        if (key == "mac") {
            auto mac = parse_mac(value);
            if (!mac) return make_error("vif \"{}\": mac: {}", text, mac.error().message);
            spec.mac = *mac;
        } else if (key == "bridge") {
            bridge_given = true;
            if (!valid_ifname(value))
                return make_error("vif \"{}\": bridge: \"{}\" is not an interface name", text,
                                  value);
            spec.bridge = value;
        } else if (key == "ip") {
            std::size_t at = 0;
            while (at < value.size()) {
                auto space = value.find(' ', at);
                std::string address = value.substr(at, space - at);
                at = space == std::string::npos ? value.size() : space + 1;
                if (address.empty()) continue;
                if (!valid_ipv4(address))
                    return make_error("vif \"{}\": ip: \"{}\" is not A.B.C.D or A.B.C.D/LEN", text,
                                      address);
                spec.ips.push_back(address);
            }
            if (spec.ips.empty()) return make_error("vif \"{}\": ip: empty", text);
        } else if (key == "script") {
            std::string_view name = value;
            auto slash = name.rfind('/');
            if (slash != std::string_view::npos) {
                if (name.front() != '/')
                    return make_error("vif \"{}\": script: \"{}\" is not an absolute path", text,
                                      value);
                // Xen's own directory names the bundled scripts; any other path is run.
                if (name.substr(0, slash + 1) != "/etc/xen/scripts/") spec.script_path = value;
                name = name.substr(slash + 1);
            }
            if (name == "vif-bridge")
                spec.script = VifScript::bridge;
            else if (name == "vif-route")
                spec.script = VifScript::route;
            else if (name == "vif-nat")
                spec.script = VifScript::nat;
            else if (slash == std::string_view::npos)
                return make_error(
                    "vif \"{}\": script: \"{}\" is not vif-bridge, vif-route, vif-nat or an "
                    "absolute path",
                    text, value);
            else
                spec.script = VifScript::bridge;  // an own script, checked as vif-bridge
        } else if (key == "gatewaydev") {
            if (!valid_ifname(value))
                return make_error("vif \"{}\": gatewaydev: \"{}\" is not an interface name", text,
                                  value);
            spec.gatewaydev = value;
        } else if (key == "vifname") {
            if (!valid_ifname(value))
                return make_error(
                    "vif \"{}\": vifname: \"{}\" is not an interface name (1..15 characters, no "
                    "'/', ':' or spaces)",
                    text, value);
            spec.vifname = value;
        } else if (key == "mtu") {
            std::uint32_t mtu = 0;
            if (!parse_number(value, mtu) || mtu < 68 || mtu > 65535)
                return make_error("vif \"{}\": mtu: \"{}\" is not a number 68..65535", text, value);
            spec.mtu = mtu;
        } else if (key == "type") {
            if (value == "ioemu")
                return make_error(
                    "vif \"{}\": type: Domus has no emulated network cards; use type=vif", text);
            if (value != "vif")
                return make_error("vif \"{}\": type: \"{}\" is not vif", text, value);
        } else if (key == "devid") {
            std::uint32_t devid = 0;
            if (!parse_number(value, devid) || devid > 255)
                return make_error("vif \"{}\": devid: \"{}\" is not a number 0..255", text, value);
            spec.devid = devid;
        } else if (key == "backend") {
            if (value != "0" && value != "Domain-0")
                return make_error("vif \"{}\": backend: driver domains are not supported yet",
                                  text);
        } else if (key == "model") {
            return make_error(
                "vif \"{}\": model: applies to emulated network cards, which Domus does not have",
                text);
        } else if (key == "rate") {
            auto rate = parse_vif_rate(value);
            if (!rate) return make_error("vif \"{}\": rate: {}", text, rate.error().message);
            spec.rate = *rate;
        } else {
            return make_error(
                "vif \"{}\": unknown key \"{}\" (mac, bridge, ip, script, gatewaydev, vifname, "
                "mtu, type, devid, backend, rate)",
                text, key);
        }
    }
    if (spec.script != VifScript::bridge && spec.ips.empty())
        return make_error("vif \"{}\": ip: {} needs the guest's address (ip=A.B.C.D)", text,
                          vif_script_name(spec.script));
    if (spec.script != VifScript::bridge && bridge_given)
        return make_error("vif \"{}\": bridge: only vif-bridge uses a bridge", text);
    return spec;
}

Result<std::vector<VifSpec>> parse_vif_specs(const std::vector<std::string>& texts) {
    std::vector<VifSpec> specs;
    std::set<std::uint32_t> devids;
    for (std::size_t i = 0; i < texts.size(); ++i) {
        DOMUS_TRY(spec, parse_vif_spec(texts[i]));
        if (!spec.devid) spec.devid = std::uint32_t(i);
        if (!devids.insert(*spec.devid).second)
            return make_error("vif \"{}\": devid: {} is used by another vif", texts[i],
                              *spec.devid);
        for (const auto& other : specs) {
            if (spec.mac && other.mac == spec.mac)
                return make_error("vif \"{}\": mac: {} is used by another vif", texts[i],
                                  format_mac(*spec.mac));
            if (!spec.vifname.empty() && other.vifname == spec.vifname)
                return make_error("vif \"{}\": vifname: \"{}\" is used by another vif", texts[i],
                                  spec.vifname);
        }
        specs.push_back(std::move(spec));
    }
    return specs;
}

std::string to_vif_spec(const VifSpec& spec) {
    std::vector<std::string> items;
    if (spec.mac) items.push_back("mac=" + format_mac(*spec.mac));
    if (spec.script == VifScript::bridge) items.push_back("bridge=" + spec.bridge);
    if (!spec.ips.empty()) {
        std::string ips;
        for (const auto& ip : spec.ips)
            ips += (ips.empty() ? "" : " ") + ip;
        items.push_back("ip=" + ips);
    }
    items.push_back("script=" + (spec.script_path.empty()
                                     ? std::string(vif_script_name(spec.script))
                                     : spec.script_path));
    if (!spec.gatewaydev.empty()) items.push_back("gatewaydev=" + spec.gatewaydev);
    if (!spec.vifname.empty()) items.push_back("vifname=" + spec.vifname);
    if (spec.mtu != 1500) items.push_back("mtu=" + std::to_string(spec.mtu));
    if (spec.devid) items.push_back("devid=" + std::to_string(*spec.devid));
    if (spec.rate) items.push_back("rate=" + format_vif_rate(*spec.rate));
    std::string text;
    for (const auto& item : items)
        text += (text.empty() ? "" : ",") + item;
    return text;
}

}  // namespace domus::config
