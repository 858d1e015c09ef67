// The xl.cfg writer: a DomainSpec back to xl syntax, every key written out.
#include "toolstack/xl_writer.hpp"

#include "toolstack/xl_syntax.hpp"

namespace domus::toolstack {
namespace {

using xl::quote;

void write_value(std::string& out, const Value& v) {
    if (auto* n = std::get_if<std::int64_t>(&v.data)) {
        out += std::to_string(*n);
    } else if (auto* s = std::get_if<std::string>(&v.data)) {
        out += quote(*s);
    } else {
        const auto& list = std::get<std::vector<Value>>(v.data);
        out += "[";
        for (std::size_t i = 0; i < list.size(); ++i) {
            out += i == 0 ? " " : ", ";
            write_value(out, list[i]);
        }
        out += " ]";
    }
}

void write_string_list(std::string& out, std::string_view key,
                       const std::vector<std::string>& items) {
    if (items.empty()) return;
    out += fmt::format("{} = [\n", key);
    for (const auto& item : items)
        out += fmt::format("    {},\n", quote(item));
    out += "]\n";
}

}  // namespace

std::string to_xl_config(const DomainSpec& spec) {
    std::string out;
    out += fmt::format("name = {}\n", quote(spec.name));
    out += "type = \"pv\"\n";
    out += fmt::format("memory = {}\nmaxmem = {}\n", spec.memory_mib, spec.maxmem_mib);
    out += fmt::format("vcpus = {}\nmaxvcpus = {}\n", spec.vcpus, spec.maxvcpus);
    out += fmt::format("kernel = {}\n", quote(spec.kernel));
    if (!spec.cmdline.empty()) out += fmt::format("cmdline = {}\n", quote(spec.cmdline));
    if (spec.uuid) out += fmt::format("uuid = {}\n", quote(*spec.uuid));
    out += fmt::format("on_poweroff = \"{}\"\n", action_name(spec.on_poweroff));
    out += fmt::format("on_reboot = \"{}\"\n", action_name(spec.on_reboot));
    out += fmt::format("on_crash = \"{}\"\n", action_name(spec.on_crash));
    out += fmt::format("on_watchdog = \"{}\"\n", action_name(spec.on_watchdog));
    write_string_list(out, "disk", spec.disk);
    write_string_list(out, "vif", spec.vif);
    write_string_list(out, "channel", spec.channel);
    if (spec.weight != 256) out += fmt::format("weight = {}\n", spec.weight);
    if (spec.cap != 0) out += fmt::format("cap = {}\n", spec.cap);
    if (spec.cpus_per_vcpu)
        write_string_list(out, "cpus", spec.cpus);
    else if (!spec.cpus.empty())
        out += fmt::format("cpus = {}\n", quote(spec.cpus[0]));
    if (!spec.extra_keys.empty()) out += "# Keys Domus does not interpret, kept as written.\n";
    for (const auto& [key, value] : spec.extra_keys) {
        out += key + " = ";
        write_value(out, value);
        out += "\n";
    }
    return out;
}

}  // namespace domus::toolstack
