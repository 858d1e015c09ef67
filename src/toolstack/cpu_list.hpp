// xl's CPULIST syntax for vCPU pinning (cpus=, vcpu-pin): "all", "2", "0-3", "0,2",
// "0-3,^1"; parsed into the set of host CPUs it names, and that set written back.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace domus::toolstack {

// The host's CPUs are 0..host_cpu_count()-1 (configured CPUs, online or not).
unsigned host_cpu_count();

// The CPUs `text` names, ascending, each below `nr_cpus`. Items are separated by commas;
// "^N" or "^N-M" removes CPUs, and a list that starts with a removal starts from all
// ("^1" = every CPU but 1). An empty result is an error, as is a CPU the host lacks.
Result<std::vector<unsigned>> parse_cpu_list(std::string_view text, unsigned nr_cpus);

// The shortest xl form of `cpus`: "all" when it is every one of `nr_cpus`, else ranges
// ("0-2,5").
std::string format_cpu_list(const std::vector<unsigned>& cpus, unsigned nr_cpus);

}  // namespace domus::toolstack
