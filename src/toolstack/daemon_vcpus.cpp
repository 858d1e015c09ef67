// domusd: vCPU hot-plug (xl vcpu-set). The guest follows its `cpu/<n>/availability`
// nodes (vcpu_availability.hpp); the daemon writes them all in one transaction, as
// libxl does, and keeps the count in the domain's configuration so a restart keeps it.
#include "base/log.hpp"
#include "toolstack/daemon.hpp"
#include "toolstack/vcpu_availability.hpp"

namespace domus::toolstack {

Result<void> Daemon::write_vcpu_availability(std::uint16_t domid, std::uint32_t online,
                                             std::uint32_t maxvcpus) {
    return store_->transact([&](store::ClientTransaction& tx) -> Result<void> {
        for (std::uint32_t vcpu = 0; vcpu < maxvcpus; ++vcpu)
            DOMUS_TRY_VOID(
                tx.write(availability_node(domid, vcpu), availability_value(vcpu, online)));
        return {};
    });
}

Result<nlohmann::json> Daemon::vcpu_set(const nlohmann::json& request) {
    DOMUS_TRY(entry, find(request));
    const auto& count = request.at("vcpus");
    if (!count.is_number_integer()) return make_error("vcpus must be a whole number");
    std::lock_guard devices(entry->devices_mutex);  // one change to the domain at a time
    std::uint32_t maxvcpus;
    {
        std::lock_guard lock(mutex_);
        maxvcpus = entry->spec.maxvcpus;
    }
    DOMUS_TRY(online, check_online_count(count.get<std::int64_t>(), maxvcpus));
    DOMUS_TRY_VOID(write_vcpu_availability(entry->domid, online, maxvcpus));
    {
        std::lock_guard lock(mutex_);
        entry->spec.vcpus = online;
    }
    save_record(*entry);
    DOMUS_LOG_INFO("domusd", "domain {} ({}): {} of {} vCPUs online", entry->domid, entry->name,
                   online, maxvcpus);
    return nlohmann::json{{"vcpus", online}, {"maxvcpus", maxvcpus}};
}

}  // namespace domus::toolstack
