// DISKSPEC parsing (xl-disk-configuration) and vbd numbering.
#include "config/disk_spec.hpp"

#include <vector>

#include "config/disk_format.hpp"
#include "config/rate_spec.hpp"
#include "config/spec_text.hpp"

namespace domus::config {
namespace {

// "a".."z", "aa".. -> 0, 1, ...
int disk_index(std::string_view letters) {
    if (letters.empty() || letters.size() > 2) return -1;
    int index = 0;
    for (char c : letters) {
        if (c < 'a' || c > 'z') return -1;
        index = index * 26 + (c - 'a' + 1);
    }
    return index - 1;
}

// xl's deprecated backend prefixes of a target ("phy:/dev/sda"): one is dropped.
constexpr std::string_view kTargetPrefixes[] = {"phy:", "file:", "tap:aio:", "aio:", "qdisk:"};

bool has_target_prefix(std::string_view target) {
    for (std::string_view prefix : kTargetPrefixes)
        if (target.starts_with(prefix)) return true;
    return false;
}

}  // namespace

Result<std::uint32_t> vbd_number(std::string_view vdev) {
    auto digits_tail = [](std::string_view s, std::size_t from, int& value) {
        value = 0;
        if (from >= s.size()) return true;
        for (std::size_t i = from; i < s.size(); ++i) {
            if (s[i] < '0' || s[i] > '9') return false;
            value = value * 10 + (s[i] - '0');
            if (value > 255) return false;
        }
        return true;
    };
    for (auto [prefix, major] :
         {std::pair{std::string_view("xvd"), 202}, std::pair{std::string_view("sd"), 8},
          std::pair{std::string_view("hd"), 3}}) {
        if (!vdev.starts_with(prefix)) continue;
        std::size_t end = prefix.size();
        while (end < vdev.size() && vdev[end] >= 'a' && vdev[end] <= 'z')
            ++end;
        int disk = disk_index(vdev.substr(prefix.size(), end - prefix.size()));
        int part = 0;
        if (disk < 0 || !digits_tail(vdev, end, part)) break;
        if (major == 202 && disk < 16 && part < 16)
            return std::uint32_t(202 << 8 | disk << 4 | part);
        if (major == 202) return std::uint32_t(1u << 28 | disk << 8 | part);
        if (major == 8 && disk < 16 && part < 16) return std::uint32_t(8 << 8 | disk << 4 | part);
        if (major == 3 && disk < 2 && part < 64) return std::uint32_t(3 << 8 | disk << 6 | part);
        if (major == 3 && disk < 4 && part < 64)
            return std::uint32_t(22 << 8 | (disk - 2) << 6 | part);
        break;
    }
    if (vdev.starts_with("d") && vdev.find('p') != std::string_view::npos) {
        int disk = 0, part = 0;
        auto p = vdev.find('p');
        auto number = [](std::string_view s, int& out) {
            if (s.empty() || s.size() > 6) return false;
            out = 0;
            for (char c : s) {
                if (c < '0' || c > '9') return false;
                out = out * 10 + (c - '0');
            }
            return true;
        };
        if (number(vdev.substr(1, p - 1), disk) && number(vdev.substr(p + 1), part) &&
            disk < (1 << 20) && part < 256)
            return std::uint32_t(1u << 28 | disk << 8 | part);
    }
    return make_error("vdev \"{}\" is not a disk name Domus knows (xvdX, sdX, hdX, d<n>p<m>)",
                      vdev);
}

Result<DiskSpec> parse_disk_spec(std::string_view text) {
    DiskSpec spec;
    std::vector<std::string> items;
    // target= swallows the rest, commas included.
    std::size_t start = 0;
    while (start <= text.size()) {
        std::string_view rest = text.substr(start);
        if (trim_spec_item(rest).starts_with("target=")) {
            items.emplace_back(trim_spec_item(rest));
            break;
        }
        auto comma = rest.find(',');
        items.emplace_back(trim_spec_item(rest.substr(0, comma)));
        if (comma == std::string_view::npos) break;
        start += comma + 1;
    }
    int positional = 0;
    for (const auto& item : items) {
        auto equals = item.find('=');
        std::string key = equals == std::string::npos ? "" : item.substr(0, equals);
        std::string value = equals == std::string::npos ? item : item.substr(equals + 1);
        if (key.empty()) {
            if (item == "cdrom")
                return make_error("disk \"{}\": cdrom devices are not supported", text);
            if (item == "discard" || item == "no-discard") {
                spec.discard = item == "discard";
                continue;
            }
            if (item == "direct-io-safe") {
                spec.direct_io = true;
                continue;
            }
            if (item == "trusted" || item == "untrusted") continue;
            switch (positional++) {
                case 0:
                    key = "target";
                    break;
                case 1:
                    key = "format";
                    break;
                case 2:
                    key = "vdev";
                    break;
                case 3:
                    key = "access";
                    break;
                default:
                    return make_error("disk \"{}\": too many positional items", text);
            }
            if (value.empty()) continue;  // empty = default
        }
        if (key == "target") {
            for (std::string_view prefix : kTargetPrefixes) {
                if (value.starts_with(prefix)) {
                    value = value.substr(prefix.size());
                    break;  // only one, as xl: "file:aio:x" names "aio:x"
                }
            }
            spec.target = value;
        } else if (key == "format") {
            if (!parse_disk_format(value))
                return make_error("disk \"{}\": format \"{}\" is not supported (raw, qcow2)", text,
                                  value);
            spec.format = value;
        } else if (key == "vdev") {
            spec.vdev = value;
        } else if (key == "access") {
            if (value == "r" || value == "ro")
                spec.read_only = true;
            else if (value == "w" || value == "rw")
                spec.read_only = false;
            else
                return make_error("disk \"{}\": access \"{}\" is not r, ro, w or rw", text, value);
        } else if (key == "rate_bytes" || key == "rate_iops") {
            auto rate = parse_scaled_number(value);
            if (!rate) return make_error("disk \"{}\": {}: {}", text, key, rate.error().message);
            (key == "rate_bytes" ? spec.rate_bytes : spec.rate_iops) = *rate;
        } else if (key == "devtype") {
            if (value != "disk")
                return make_error("disk \"{}\": devtype \"{}\" is not supported", text, value);
        } else if (key == "backend" || key == "backendtype" || key == "script" ||
                   key == "specification") {
            if (key == "backend" && value != "0" && value != "Domain-0")
                return make_error("disk \"{}\": driver domains are not supported yet", text);
        } else {
            return make_error("disk \"{}\": unknown key \"{}\"", text, key);
        }
    }
    if (spec.target.empty()) return make_error("disk \"{}\": no target", text);
    if (spec.direct_io && spec.format != "raw")
        return make_error("disk \"{}\": direct-io-safe (O_DIRECT) is supported for raw images only",
                          text);
    if (spec.vdev.empty()) return make_error("disk \"{}\": vdev is mandatory", text);
    DOMUS_TRY(number, vbd_number(spec.vdev));
    spec.virtual_device = number;
    return spec;
}

std::string to_disk_spec(const DiskSpec& spec) {
    // A target that starts like a prefix gets one more, so that it reads back whole.
    return "format=" + spec.format + ", vdev=" + spec.vdev +
           ", access=" + (spec.read_only ? "ro" : "rw") + (spec.discard ? "" : ", no-discard") +
           (spec.direct_io ? ", direct-io-safe" : "") +
           (spec.rate_bytes ? ", rate_bytes=" + std::to_string(spec.rate_bytes) : "") +
           (spec.rate_iops ? ", rate_iops=" + std::to_string(spec.rate_iops) : "") +
           ", target=" + (has_target_prefix(spec.target) ? "file:" : "") + spec.target;
}

}  // namespace domus::config
