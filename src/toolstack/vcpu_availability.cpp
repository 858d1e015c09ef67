// The availability nodes and the vcpu-set count check (see vcpu_availability.hpp).
#include "toolstack/vcpu_availability.hpp"

#include <fmt/format.h>

namespace domus::toolstack {

std::string availability_node(std::uint16_t domid, std::uint32_t vcpu) {
    return fmt::format("/local/domain/{}/cpu/{}/availability", domid, vcpu);
}

std::string_view availability_value(std::uint32_t vcpu, std::uint32_t online) {
    return vcpu < online ? "online" : "offline";
}

Result<std::uint32_t> check_online_count(std::int64_t requested, std::uint32_t maxvcpus) {
    if (requested < 1)
        return make_error("a domain keeps at least one vCPU online (vCPU 0 cannot go offline): {}",
                          requested);
    if (requested > std::int64_t(maxvcpus))
        return make_error("{} vCPUs requested, but the domain has maxvcpus = {}", requested,
                          maxvcpus);
    return std::uint32_t(requested);
}

}  // namespace domus::toolstack
