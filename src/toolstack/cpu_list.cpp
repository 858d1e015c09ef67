// xl's CPULIST syntax: parsing into a set of host CPUs and writing one back (cpu_list.hpp).
#include "toolstack/cpu_list.hpp"

#include <sys/sysinfo.h>

#include <charconv>

namespace domus::toolstack {
namespace {

Result<unsigned> cpu_number(std::string_view text, std::string_view whole) {
    unsigned value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size())
        return make_error("\"{}\": \"{}\" is not a CPU number", whole, text);
    return value;
}

}  // namespace

unsigned host_cpu_count() {
    int n = ::get_nprocs_conf();
    return n > 0 ? unsigned(n) : 1;
}

Result<std::vector<unsigned>> parse_cpu_list(std::string_view text, unsigned nr_cpus) {
    std::vector<bool> chosen(nr_cpus, false);
    std::string_view rest = text;
    bool first = true;
    while (true) {
        auto comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        while (!item.empty() && item.front() == ' ')
            item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ')
            item.remove_suffix(1);
        bool remove = !item.empty() && item.front() == '^';
        if (remove) item.remove_prefix(1);
        if (remove && first) chosen.assign(nr_cpus, true);
        first = false;
        unsigned low = 0, high = nr_cpus - 1;
        if (item.empty()) return make_error("\"{}\": empty item", text);
        if (item.starts_with("nodes:"))
            return make_error("\"{}\": NUMA node lists are not supported", text);
        if (item != "all") {
            auto dash = item.find('-');
            DOMUS_TRY(from, cpu_number(item.substr(0, dash), text));
            low = high = from;
            if (dash != std::string_view::npos) {
                DOMUS_TRY(to, cpu_number(item.substr(dash + 1), text));
                if (to < from) return make_error("\"{}\": range {} is backwards", text, item);
                high = to;
            }
            if (high >= nr_cpus)
                return make_error("\"{}\": CPU {} does not exist (the host has CPUs 0-{})", text,
                                  high, nr_cpus - 1);
        }
        for (unsigned cpu = low; cpu <= high; ++cpu)
            chosen[cpu] = !remove;
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    std::vector<unsigned> out;
    for (unsigned cpu = 0; cpu < nr_cpus; ++cpu)
        if (chosen[cpu]) out.push_back(cpu);
    if (out.empty()) return make_error("\"{}\" selects no CPU", text);
    return out;
}

std::string format_cpu_list(const std::vector<unsigned>& cpus, unsigned nr_cpus) {
    if (cpus.size() == nr_cpus) return "all";
    std::string out;
    for (std::size_t i = 0; i < cpus.size();) {
        std::size_t j = i;
        while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1)
            ++j;
        if (!out.empty()) out += ",";
        out += std::to_string(cpus[i]);
        if (j > i) out += "-" + std::to_string(cpus[j]);
        i = j + 1;
    }
    return out;
}

}  // namespace domus::toolstack
