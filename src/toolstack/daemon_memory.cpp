// domusd: memory of domains (xl mem-set, mem-max) and the host's memory budget. A domain's
// target goes to its balloon driver through memory/target (KiB, as libxl writes it); the
// maximum goes to its monitor (set-max-memory). The budget keeps the sum of the domains'
// targets within the host memory given to domains, unless overcommit is allowed.
#include <sys/sysinfo.h>

#include <cstdlib>

#include "base/log.hpp"
#include "toolstack/daemon.hpp"
#include "toolstack/json_socket.hpp"

namespace domus::toolstack {
namespace {

// Below this a guest has no room for its kernel, its stacks and the store's buffers.
constexpr std::uint64_t kMinTargetKib = 8 * 1024;

std::uint64_t kib_of(const nlohmann::json& request) {
    if (!request.contains("kib") || !request["kib"].is_number_unsigned())
        throw std::invalid_argument("\"kib\" must be a number");
    return request["kib"].get<std::uint64_t>();
}

}  // namespace

std::uint64_t MemoryBudget::default_domains_mib() {
    struct sysinfo host {};
    ::sysinfo(&host);
    std::uint64_t total = (std::uint64_t(host.totalram) * host.mem_unit) >> 20;
    // Dom0 (the daemons, the monitors' own memory, the page cache of the images) keeps
    // an eighth of the host, at least 512 MiB.
    std::uint64_t reserve = std::max<std::uint64_t>(512, total / 8);
    return total > reserve ? total - reserve : 0;
}

Result<void> Daemon::check_budget_locked(std::uint64_t new_kib, std::uint16_t except) const {
    if (budget_.allow_overcommit) return {};
    std::uint64_t committed_kib = 0;
    for (const auto& [domid, entry] : domains_)
        if (domid != except) committed_kib += entry->spec.memory_mib * 1024;
    std::uint64_t budget_kib = budget_.domains_mib * 1024;
    if (committed_kib + new_kib <= budget_kib) return {};
    return make_error(
        "not enough memory: {} MiB requested, {} MiB of the {} MiB for domains are committed "
        "to other domains (domusd --memory-overcommit allows overcommit)",
        (new_kib + 1023) / 1024, committed_kib / 1024, budget_.domains_mib);
}

Result<nlohmann::json> Daemon::mem_set(const nlohmann::json& request) {
    DOMUS_TRY(entry, find(request));
    std::uint64_t kib = kib_of(request);
    if (kib < kMinTargetKib)
        return make_error("memory target {} KiB is below the minimum of {} MiB", kib,
                          kMinTargetKib / 1024);
    std::uint64_t static_max_kib = entry->spec.maxmem_mib * 1024;
    if (kib > static_max_kib)
        return make_error("memory target {} MiB is above the domain's maxmem ({} MiB)",
                          (kib + 1023) / 1024, entry->spec.maxmem_mib);
    if (auto info = json_request(run_dir_.control_socket(entry->domid), {{"op", "info"}},
                                 std::chrono::seconds(5));
        info && info->contains("max_memory_kib") &&
        kib > (*info)["max_memory_kib"].get<std::uint64_t>())
        return make_error("memory target {} MiB is above the domain's maximum ({} MiB, mem-max)",
                          (kib + 1023) / 1024,
                          (*info)["max_memory_kib"].get<std::uint64_t>() / 1024);
    {
        std::lock_guard lock(mutex_);
        DOMUS_TRY_VOID(check_budget_locked(kib, entry->domid));
        // Recorded first (a restart of the domain keeps the target), then told to the guest.
        entry->spec.memory_mib = (kib + 1023) / 1024;
    }
    save_record(*entry);
    std::string node = "/local/domain/" + std::to_string(entry->domid) + "/memory/target";
    DOMUS_TRY_VOID(store_->write(node, std::to_string(kib)));
    DOMUS_LOG_INFO("domusd", "domain {} memory target {} KiB", entry->name, kib);
    return nlohmann::json::object();
}

Result<nlohmann::json> Daemon::mem_max(const nlohmann::json& request) {
    DOMUS_TRY(entry, find(request));
    std::uint64_t kib = kib_of(request);
    std::uint64_t static_max_kib = entry->spec.maxmem_mib * 1024;
    if (kib > static_max_kib)
        return make_error(
            "maximum {} MiB is above the domain's maxmem ({} MiB), the size of its RAM: "
            "set a larger maxmem in its configuration and create it again",
            (kib + 1023) / 1024, entry->spec.maxmem_mib);
    DOMUS_TRY(info, json_request(run_dir_.control_socket(entry->domid), {{"op", "info"}},
                                 std::chrono::seconds(5)));
    std::uint64_t current_kib = info.value("memory_kib", std::uint64_t(0));
    if (kib < current_kib)
        return make_error("maximum {} KiB is below the domain's current allocation ({} KiB)", kib,
                          current_kib);
    DOMUS_TRY_VOID(json_request(run_dir_.control_socket(entry->domid),
                                {{"op", "set-max-memory"}, {"kib", kib}}, std::chrono::seconds(5)));
    return nlohmann::json::object();
}

std::uint64_t Daemon::free_memory_mib() {
    // As xl's free_memory: what is left for domains after what they hold now (the
    // monitors' reservations; a monitor that does not answer counts its target).
    std::vector<std::shared_ptr<Entry>> entries;
    {
        std::lock_guard lock(mutex_);
        for (auto& [domid, entry] : domains_)
            entries.push_back(entry);
    }
    std::uint64_t held_kib = 0;
    for (auto& entry : entries) {
        auto info = json_request(run_dir_.control_socket(entry->domid), {{"op", "info"}},
                                 std::chrono::seconds(2));
        held_kib += info && info->contains("memory_kib")
                        ? (*info)["memory_kib"].get<std::uint64_t>()
                        : entry->spec.memory_mib * 1024;
    }
    std::uint64_t budget_kib = budget_.domains_mib * 1024;
    return budget_kib > held_kib ? (budget_kib - held_kib) / 1024 : 0;
}

}  // namespace domus::toolstack
