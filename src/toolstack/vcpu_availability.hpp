// vCPU hot-plug as xl does it: the store nodes `cpu/<n>/availability` ("online" or
// "offline") under the domain's home, one per vCPU slot (0..maxvcpus-1), and the checks
// on a requested online count.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace domus::toolstack {

// "/local/domain/<domid>/cpu/<vcpu>/availability"
std::string availability_node(std::uint16_t domid, std::uint32_t vcpu);
// What `availability_node(_, vcpu)` holds when `online` vCPUs are online: the first ones.
std::string_view availability_value(std::uint32_t vcpu, std::uint32_t online);
// A vcpu-set count: 1..maxvcpus (0 would take vCPU 0 offline, which no guest allows).
Result<std::uint32_t> check_online_count(std::int64_t requested, std::uint32_t maxvcpus);

}  // namespace domus::toolstack
