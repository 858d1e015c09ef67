// The xl.cfg semantic pass: xl's defaults and Domus's limits applied to the settings
// of the syntax pass, giving a DomainSpec; errors name file, line and key.
#include "toolstack/xl_semantics.hpp"

#include <array>
#include <map>

#include "config/channel_spec.hpp"
#include "config/vif_spec.hpp"
#include "toolstack/cpu_list.hpp"

namespace domus::toolstack {
namespace {

using xl::describe;
using xl::is_digit;
using xl::is_hex_digit;
using xl::is_key_char;
using xl::parse_number;
using xl::quote;
using xl::Setting;

constexpr std::size_t kMaxNameLength = 64;

constexpr std::array<std::pair<std::string_view, Action>, 7> kActions{{
    {"destroy", Action::Destroy},
    {"restart", Action::Restart},
    {"preserve", Action::Preserve},
    {"rename-restart", Action::RenameRestart},
    {"coredump-destroy", Action::CoredumpDestroy},
    {"coredump-restart", Action::CoredumpRestart},
    {"soft-reset", Action::SoftReset},
}};

// The semantic pass: reads the last value of each key and checks it.
class SpecBuilder {
public:
    SpecBuilder(const std::vector<Setting>& settings, std::string_view file) : file_(file) {
        for (const Setting& s : settings)
            last_[s.key] = &s;
        for (const Setting& s : settings) {
            if (last_[s.key] == &s) ordered_.push_back(&s);
        }
    }

    Result<ParsedConfig> build() {
        ParsedConfig out;
        DomainSpec& spec = out.spec;

        DOMUS_TRY(name, required_string("name"));
        DOMUS_TRY_VOID(check_name(*last_.at("name"), name));
        spec.name = std::move(name);
        DOMUS_TRY_VOID(check_type(out.warnings));

        DOMUS_TRY(memory, ranged("memory", 4, 65536, 32));
        DOMUS_TRY(maxmem, ranged("maxmem", 4, 65536, memory));
        if (maxmem < memory) return at("maxmem", "{} is less than memory ({})", maxmem, memory);
        DOMUS_TRY(vcpus, ranged("vcpus", 1, 64, 1));
        DOMUS_TRY(maxvcpus, ranged("maxvcpus", 1, 64, vcpus));
        if (maxvcpus < vcpus) return at("maxvcpus", "{} is less than vcpus ({})", maxvcpus, vcpus);
        spec.memory_mib = memory;
        spec.maxmem_mib = maxmem;
        spec.vcpus = vcpus;
        spec.maxvcpus = maxvcpus;

        DOMUS_TRY(kernel, required_string("kernel"));
        if (kernel.empty()) return at("kernel", "must not be empty");
        spec.kernel = std::move(kernel);
        DOMUS_TRY(cmdline, command_line());
        spec.cmdline = std::move(cmdline);

        if (find("uuid")) {
            DOMUS_TRY(uuid, string_of(*find("uuid")));
            if (!is_uuid(uuid)) return at("uuid", "{} is not 8-4-4-4-12 hex digits", quote(uuid));
            spec.uuid = std::move(uuid);
        }

        DOMUS_TRY(on_poweroff, action("on_poweroff", Action::Destroy));
        DOMUS_TRY(on_reboot, action("on_reboot", Action::Restart));
        DOMUS_TRY(on_crash, action("on_crash", Action::Destroy));
        DOMUS_TRY(on_watchdog, action("on_watchdog", Action::Destroy));
        spec.on_poweroff = on_poweroff;
        spec.on_reboot = on_reboot;
        spec.on_crash = on_crash;
        spec.on_watchdog = on_watchdog;

        DOMUS_TRY(disk, string_list("disk"));
        DOMUS_TRY(vif, string_list("vif"));
        spec.disk = std::move(disk);
        // Refused here, so the message carries the file, the line and the key.
        if (auto vifs = config::parse_vif_specs(vif); !vifs)
            return at("vif", "{}", vifs.error().message);
        spec.vif = std::move(vif);
        DOMUS_TRY(channel, string_list("channel"));
        if (auto channels = config::parse_channel_specs(channel); !channels)
            return at("channel", "{}", channels.error().message);
        spec.channel = std::move(channel);

        DOMUS_TRY(weight, ranged("weight", 1, 65535, 256));
        DOMUS_TRY(cap, ranged("cap", 0, 100 * std::int64_t(maxvcpus), 0));
        spec.weight = weight;
        spec.cap = cap;
        DOMUS_TRY_VOID(cpus(spec));

        for (const Setting* s : ordered_) {
            if (is_known(s->key)) continue;
            spec.extra_keys[s->key] = s->value;
            out.warnings.push_back(fmt::format("{}: {}: unknown key, ignored", s->where, s->key));
        }
        return out;
    }

private:
    static bool is_known(std::string_view key) {
        static constexpr std::array<std::string_view, 22> kKnown{
            "name",        "type",      "builder",  "memory",      "maxmem", "vcpus",
            "maxvcpus",    "kernel",    "cmdline",  "extra",       "root",   "uuid",
            "on_poweroff", "on_reboot", "on_crash", "on_watchdog", "disk",   "vif",
            "channel",     "weight",    "cap",      "cpus"};
        for (auto k : kKnown) {
            if (k == key) return true;
        }
        return false;
    }

    const Setting* find(const std::string& key) const {
        auto it = last_.find(key);
        return it == last_.end() ? nullptr : it->second;
    }

    template <class... Args>
    Error at(const Setting& s, fmt::format_string<Args...> format, Args&&... args) const {
        return make_error("{}: {}: {}", s.where, s.key,
                          fmt::format(format, std::forward<Args>(args)...));
    }
    template <class... Args>
    Error at(const std::string& key, fmt::format_string<Args...> format, Args&&... args) const {
        return at(*find(key), format, std::forward<Args>(args)...);
    }

    Result<std::string> string_of(const Setting& s) const {
        if (auto* str = std::get_if<std::string>(&s.value.data)) return *str;
        return at(s, "expected a string, got {}", describe(s.value));
    }

    Result<std::string> required_string(const std::string& key) const {
        const Setting* s = find(key);
        if (!s) return make_error("{}: {}: required key missing", file_, key);
        return string_of(*s);
    }

    // xl reads numbers through strtol, so a quoted "64" is a number too.
    Result<std::int64_t> number_of(const Setting& s) const {
        if (auto* n = std::get_if<std::int64_t>(&s.value.data)) return *n;
        if (auto* str = std::get_if<std::string>(&s.value.data)) {
            std::string_view t = *str;
            while (!t.empty() && (t.front() == ' ' || t.front() == '\t'))
                t.remove_prefix(1);
            while (!t.empty() && (t.back() == ' ' || t.back() == '\t'))
                t.remove_suffix(1);
            if (!t.empty() && is_digit(t[0])) {
                auto n = parse_number(t);
                if (!n) return at(s, "{}", n.error().message);
                return *n;
            }
        }
        return at(s, "expected a number, got {}", describe(s.value));
    }

    Result<std::uint32_t> ranged(const std::string& key, std::int64_t low, std::int64_t high,
                                 std::uint32_t fallback) const {
        const Setting* s = find(key);
        if (!s) return fallback;
        DOMUS_TRY(n, number_of(*s));
        if (n < low || n > high) return at(*s, "{} is out of range {}..{}", n, low, high);
        return static_cast<std::uint32_t>(n);
    }

    Result<void> check_name(const Setting& s, const std::string& name) const {
        if (name.empty()) return at(s, "must not be empty");
        if (name.size() > kMaxNameLength) {
            return at(s, "longer than {} characters", kMaxNameLength);
        }
        bool all_digits = true;
        for (char c : name) {
            bool ok = is_key_char(c) || c == '.' || c == '-';
            if (!ok) return at(s, "{} has a character outside [A-Za-z0-9_.-]", quote(name));
            all_digits = all_digits && is_digit(c);
        }
        // A numeric name would be taken for a domain ID by every command that takes either.
        if (all_digits) return at(s, "{} is all digits, which reads as a domain ID", quote(name));
        return {};
    }

    Result<void> check_type(std::vector<std::string>& warnings) const {
        if (const Setting* s = find("type")) {
            DOMUS_TRY(type, string_of(*s));
            if (type == "pvh" || type == "hvm") {
                return at(*s, "{} is not supported: Domus runs pv guests only", quote(type));
            }
            if (type != "pv") return at(*s, "{} is not one of pv, pvh, hvm", quote(type));
        }
        if (const Setting* s = find("builder")) {
            DOMUS_TRY(builder, string_of(*s));
            if (builder == "hvm") {
                return at(*s, "\"hvm\" is not supported: Domus runs pv guests only");
            }
            if (builder != "generic")
                return at(*s, "{} is not one of generic, hvm", quote(builder));
            warnings.push_back(
                fmt::format("{}: builder: deprecated, write type = \"pv\" instead", s->where));
        }
        return {};
    }

    // `cmdline` and `extra` name the same thing here; `root` adds "root=<root>".
    Result<std::string> command_line() const {
        const Setting* cmdline = find("cmdline");
        const Setting* extra = find("extra");
        if (cmdline && extra) {
            return at(*extra, "cannot be combined with cmdline ({})", cmdline->where);
        }
        std::string out;
        if (cmdline || extra) {
            DOMUS_TRY(base, string_of(cmdline ? *cmdline : *extra));
            out = std::move(base);
        }
        if (const Setting* root = find("root")) {
            DOMUS_TRY(device, string_of(*root));
            out += fmt::format("{}root={}", out.empty() ? "" : " ", device);
        }
        return out;
    }

    static bool is_uuid(std::string_view s) {
        static constexpr std::array<std::size_t, 5> kGroups{8, 4, 4, 4, 12};
        std::size_t pos = 0;
        for (std::size_t g = 0; g < kGroups.size(); ++g) {
            if (g > 0) {
                if (pos >= s.size() || s[pos] != '-') return false;
                ++pos;
            }
            for (std::size_t i = 0; i < kGroups[g]; ++i, ++pos) {
                if (pos >= s.size() || !is_hex_digit(s[pos])) return false;
            }
        }
        return pos == s.size();
    }

    Result<Action> action(const std::string& key, Action fallback) const {
        const Setting* s = find(key);
        if (!s) return fallback;
        DOMUS_TRY(text, string_of(*s));
        for (auto [name, value] : kActions) {
            if (name == text) return value;
        }
        std::string names;
        for (auto [name, value] : kActions)
            names += fmt::format("{}{}", names.empty() ? "" : ", ", name);
        return at(*s, "{} is not one of {}", quote(text), names);
    }

    // cpus = "CPULIST" (or a number), or a list of them, one per vCPU; every CPU named
    // must exist on this host.
    Result<void> cpus(DomainSpec& spec) const {
        const Setting* s = find("cpus");
        if (!s) return {};
        auto check = [&](const std::string& text, std::string_view label) -> Result<void> {
            if (auto parsed = parse_cpu_list(text, host_cpu_count()); !parsed)
                return at(*s, "{}{}", label, parsed.error().message);
            return {};
        };
        if (auto* n = std::get_if<std::int64_t>(&s->value.data)) {
            if (*n < 0) return at(*s, "{} is not a CPU number", *n);
            spec.cpus = {std::to_string(*n)};
        } else if (auto* text = std::get_if<std::string>(&s->value.data)) {
            spec.cpus = {*text};
        } else {
            DOMUS_TRY(list, string_list("cpus"));
            if (list.size() > spec.maxvcpus)
                return at(*s, "{} entries for {} vCPUs", list.size(), spec.maxvcpus);
            for (std::size_t i = 0; i < list.size(); ++i)
                DOMUS_TRY_VOID(check(list[i], fmt::format("vCPU {}: ", i)));
            spec.cpus = std::move(list);
            spec.cpus_per_vcpu = !spec.cpus.empty();
            return {};
        }
        return check(spec.cpus[0], "");
    }

    Result<std::vector<std::string>> string_list(const std::string& key) const {
        std::vector<std::string> out;
        const Setting* s = find(key);
        if (!s) return out;
        auto* list = std::get_if<std::vector<Value>>(&s->value.data);
        if (!list) return at(*s, "expected a list of strings, got {}", describe(s->value));
        for (std::size_t i = 0; i < list->size(); ++i) {
            auto* str = std::get_if<std::string>(&(*list)[i].data);
            if (!str) {
                return at(*s, "item {}: expected a string, got {}", i + 1, describe((*list)[i]));
            }
            out.push_back(*str);
        }
        return out;
    }

    std::string_view file_;
    std::map<std::string, const Setting*> last_;
    std::vector<const Setting*> ordered_;  // last occurrences, in file order
};

}  // namespace

std::string_view action_name(Action action) {
    for (auto [name, value] : kActions) {
        if (value == action) return name;
    }
    return "destroy";  // unreachable for valid enumerators
}

std::string vcpu_cpus(const DomainSpec& spec, std::uint32_t vcpu) {
    if (spec.cpus.empty()) return "all";
    if (!spec.cpus_per_vcpu) return spec.cpus[0];
    return vcpu < spec.cpus.size() ? spec.cpus[vcpu] : "all";
}

Result<ParsedConfig> build_domain_spec(const std::vector<xl::Setting>& settings,
                                       std::string_view file) {
    return SpecBuilder(settings, file).build();
}

void merge_override(std::vector<xl::Setting>& settings, xl::Setting override) {
    if (override.key == "cmdline" || override.key == "extra") {
        std::erase_if(settings,
                      [](const xl::Setting& s) { return s.key == "cmdline" || s.key == "extra"; });
    }
    settings.push_back(std::move(override));
}

}  // namespace domus::toolstack
