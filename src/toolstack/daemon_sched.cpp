// domusd: the credit scheduler's host side (docs/scheduling.md). A domain's weight and
// cap live on its CPU cgroup, its pinning on its vCPU threads' affinity; both are
// applied when it starts or domusd recovers it, changed live by sched-credit and
// vcpu-pin (and recorded in its spec, so restarts keep them), and shown by vcpu-list.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <thread>

#include "base/log.hpp"
#include "toolstack/cpu_list.hpp"
#include "toolstack/daemon.hpp"
#include "toolstack/json_socket.hpp"
#include "toolstack/vcpu_threads.hpp"

namespace domus::toolstack {
namespace {

// The monitor's info reply, or an empty object if it does not answer (then the vCPU
// threads are found by name).
nlohmann::json monitor_info(const std::string& control) {
    auto info = json_request(control, {{"op", "info"}}, std::chrono::seconds(2));
    return info ? *info : nlohmann::json::object();
}

// A thread that has exited meanwhile (its domain ended) is no error: ESRCH.
bool thread_gone(const Result<void>& result) {
    return !result && result.error().code == ESRCH;
}

// Pins each found vCPU thread as the spec says.
Result<void> pin_threads(const DomainSpec& spec, const std::vector<VcpuThread>& threads) {
    unsigned nr_cpus = host_cpu_count();
    for (const auto& thread : threads) {
        if (thread.tid <= 0) continue;
        auto cpus = parse_cpu_list(vcpu_cpus(spec, thread.vcpu), nr_cpus);
        if (!cpus) return make_error("vCPU {}: cpus {}", thread.vcpu, cpus.error().message);
        auto pinned = set_thread_affinity(thread.tid, *cpus);
        if (!pinned && !thread_gone(pinned)) return pinned;
    }
    return {};
}

// Moves the monitor (v2) and each found vCPU thread into the domain's group.
Result<void> join_group(const DomainCgroup& cgroup, pid_t pid,
                        const std::vector<VcpuThread>& threads) {
    auto monitor = cgroup.add_monitor(pid);
    if (!monitor) return thread_gone(monitor) ? Result<void>() : monitor;
    for (const auto& thread : threads) {
        if (thread.tid <= 0) continue;
        auto added = cgroup.add_vcpu_thread(thread.tid);
        if (!added && !thread_gone(added)) return added;
    }
    return {};
}

Result<void> place_threads(const DomainSpec& spec, const std::optional<DomainCgroup>& cgroup,
                           pid_t pid, const std::vector<VcpuThread>& threads) {
    if (cgroup) DOMUS_TRY_VOID(join_group(*cgroup, pid, threads));
    return pin_threads(spec, threads);
}

}  // namespace

Result<void> Daemon::apply_sched(const std::shared_ptr<Entry>& shared, bool just_started,
                                 const nlohmann::json& known_info) {
    Entry& entry = *shared;
    const DomainSpec& spec = entry.spec;
    // A domain that asks for nothing runs with the defaults when its group or pinning
    // cannot be set up (a host without a cpu cgroup): that is a warning, not a failure.
    bool asked = spec.weight != kDefaultWeight || spec.cap != 0 || !spec.cpus.empty();
    auto outcome = [&](Result<void> result) -> Result<void> {
        if (result || asked) return result;
        DOMUS_LOG_WARN("domusd", "domain {}: running without weight, cap and pinning: {}",
                       entry.domid, result.error().message);
        return {};
    };
    if (!entry.cgroup) {
        Result<DomainCgroup> group =
            cgroup_mount_ ? DomainCgroup::create(*cgroup_mount_, cgroup_parent_, entry.domid)
                          : Result<DomainCgroup>(cgroup_mount_.error());
        if (!group) return outcome(make_error("no CPU cgroup: {}", group.error().message));
        entry.cgroup = std::move(group).value();
    }
    if (auto set = entry.cgroup->set({spec.weight, spec.cap}); !set) return outcome(set);
    // A new monitor reports ready once its vCPU threads run (vmm_main.cpp), so they are
    // all found at the first look; an older one started them just after: wait (up to
    // 5 s) until each vCPU slot in its vcpu_list has a thread (offline ones park in
    // theirs), or, without a vcpu_list, until there is a thread named vcpu<n> for each
    // vCPU it boots with. A domain that has already ended needs nothing.
    std::string control = run_dir_.control_socket(entry.domid);
    nlohmann::json info = known_info.empty() ? monitor_info(control) : known_info;
    auto threads = find_vcpu_threads(entry.pid, info);
    auto missing = [&] {
        if (!just_started || info.empty() || info.contains("exit")) return false;
        if (info.contains("vcpu_list")) {  // a thread per vCPU slot, online or parked
            return std::any_of(threads.begin(), threads.end(),
                               [](const VcpuThread& t) { return t.tid <= 0; });
        }
        std::uint32_t found = 0;
        for (const auto& thread : threads)
            found += thread.vcpu < spec.vcpus && thread.tid > 0;
        return found < spec.vcpus;
    };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (missing() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        info = monitor_info(control);
        threads = find_vcpu_threads(entry.pid, info);
    }
    if (missing()) return outcome(make_error("its vCPU threads did not appear within 5 s"));
    DOMUS_TRY_VOID(outcome(pin_threads(spec, threads)));
    if (!just_started) return outcome(join_group(*entry.cgroup, entry.pid, threads));
    // The first move of a thread between cgroups waits for an RCU grace period (the
    // kernel's threadgroup lock switching to its writer mode): ~15 ms here, 3x the rest
    // of a create. A new domain's threads join its group off the create path, before
    // any later change to it (they hold its devices_mutex).
    std::thread([this, shared, threads] {
        std::lock_guard change(shared->devices_mutex);
        auto joined = join_group(*shared->cgroup, shared->pid, threads);
        std::lock_guard lock(mutex_);
        if (!joined && !shared->gone)  // a destroyed domain's group may be gone already
            DOMUS_LOG_ERROR("domusd", "domain {}: its vCPU threads stay outside its group: {}",
                            shared->domid, joined.error().message);
    }).detach();
    return {};
}

void Daemon::remove_sched(std::uint16_t domid, const std::optional<DomainCgroup>& cgroup) {
    std::optional<DomainCgroup> group = cgroup;
    if (!group && cgroup_mount_) {
        // A domain that ended while no domusd ran: its group, if one is left.
        struct stat st {};
        std::string path =
            cgroup_mount_->root + "/" + cgroup_parent_ + "/dom" + std::to_string(domid);
        if (::stat(path.c_str(), &st) == 0) {
            if (auto found = DomainCgroup::create(*cgroup_mount_, cgroup_parent_, domid))
                group = std::move(found).value();
        }
    }
    if (!group) return;
    if (auto removed = group->remove(); !removed)
        DOMUS_LOG_WARN("domusd", "domain {}: {}", domid, removed.error().message);
}

void Daemon::remove_stale_cgroups() {
    if (!cgroup_mount_) return;
    for (std::uint16_t domid : domain_cgroups(*cgroup_mount_, cgroup_parent_)) {
        {
            std::lock_guard lock(mutex_);
            if (domains_.count(domid)) continue;
        }
        DOMUS_LOG_INFO("domusd", "removing the CPU cgroup of gone domain {}", domid);
        remove_sched(domid, std::nullopt);
    }
}

Result<nlohmann::json> Daemon::sched_credit(const nlohmann::json& request) {
    auto row = [](std::uint16_t domid, const std::string& name, const DomainSpec& spec) {
        return nlohmann::json{
            {"domid", domid}, {"name", name}, {"weight", spec.weight}, {"cap", spec.cap}};
    };
    if (!request.contains("domain")) {  // every domain, Domain-0 first as xl lists it
        nlohmann::json rows = nlohmann::json::array();
        rows.push_back(row(0, "Domain-0", DomainSpec{}));
        std::lock_guard lock(mutex_);
        for (auto& [domid, entry] : domains_)
            if (!entry->creating) rows.push_back(row(domid, entry->name, entry->spec));
        return nlohmann::json{{"domains", rows}};
    }
    DOMUS_TRY(entry, find(request));
    std::lock_guard change(entry->devices_mutex);
    DomainSpec spec;
    {
        std::lock_guard lock(mutex_);
        spec = entry->spec;
    }
    if (request.contains("weight") || request.contains("cap")) {
        std::int64_t weight = request.value("weight", std::int64_t(spec.weight));
        std::int64_t cap = request.value("cap", std::int64_t(spec.cap));
        if (weight < 1 || weight > kMaxWeight)
            return make_error("weight {} is out of range 1..{}", weight, kMaxWeight);
        std::int64_t max_cap = 100 * std::int64_t(spec.maxvcpus);
        if (cap < 0 || cap > max_cap)
            return make_error("cap {} is out of range 0..{} (100 per vCPU, 0 for none)", cap,
                              max_cap);
        if (!entry->cgroup) return make_error("domain {} has no CPU cgroup", entry->name);
        spec.weight = std::uint32_t(weight);
        spec.cap = std::uint32_t(cap);
        DOMUS_TRY_VOID(entry->cgroup->set({spec.weight, spec.cap}));
        // vCPU threads started since (hot-plugged vCPUs) join the group too.
        auto threads =
            find_vcpu_threads(entry->pid, monitor_info(run_dir_.control_socket(entry->domid)));
        DOMUS_TRY_VOID(place_threads(spec, entry->cgroup, entry->pid, threads));
        {
            std::lock_guard lock(mutex_);
            entry->spec.weight = spec.weight;
            entry->spec.cap = spec.cap;
        }
        save_record(*entry);
    }
    return nlohmann::json{
        {"domains", nlohmann::json::array({row(entry->domid, entry->name, spec)})}};
}

Result<nlohmann::json> Daemon::vcpu_pin(const nlohmann::json& request) {
    DOMUS_TRY(entry, find(request));
    std::string which = request.value("vcpu", "");
    std::string text = request.value("cpus", "");
    unsigned nr_cpus = host_cpu_count();
    DOMUS_TRY(cpus, parse_cpu_list(text, nr_cpus));
    std::lock_guard change(entry->devices_mutex);
    DomainSpec spec;
    {
        std::lock_guard lock(mutex_);
        spec = entry->spec;
    }
    std::string pinned = format_cpu_list(cpus, nr_cpus);
    if (which == "all") {
        spec.cpus = pinned == "all" ? std::vector<std::string>{} : std::vector{pinned};
        spec.cpus_per_vcpu = false;
    } else {
        std::uint32_t vcpu = 0;
        auto [end, failed] = std::from_chars(which.data(), which.data() + which.size(), vcpu);
        if (which.empty() || failed != std::errc() || end != which.data() + which.size())
            return make_error("\"{}\" is not a vCPU number or \"all\"", which);
        if (vcpu >= spec.maxvcpus)
            return make_error("domain {} has no vCPU {} (it has 0-{})", entry->name, vcpu,
                              spec.maxvcpus - 1);
        std::vector<std::string> per_vcpu;
        for (std::uint32_t i = 0; i < spec.maxvcpus; ++i)
            per_vcpu.push_back(i == vcpu ? pinned : vcpu_cpus(spec, i));
        while (!per_vcpu.empty() && per_vcpu.back() == "all")  // unpinned past the list
            per_vcpu.pop_back();
        spec.cpus = per_vcpu;
        spec.cpus_per_vcpu = !per_vcpu.empty();
    }
    auto threads =
        find_vcpu_threads(entry->pid, monitor_info(run_dir_.control_socket(entry->domid)));
    DOMUS_TRY_VOID(place_threads(spec, entry->cgroup, entry->pid, threads));
    {
        std::lock_guard lock(mutex_);
        entry->spec.cpus = spec.cpus;
        entry->spec.cpus_per_vcpu = spec.cpus_per_vcpu;
    }
    save_record(*entry);
    return nlohmann::json::object();
}

Result<nlohmann::json> Daemon::vcpu_list(const nlohmann::json& request) {
    std::vector<std::shared_ptr<Entry>> entries;
    if (request.contains("domain")) {
        DOMUS_TRY(entry, find(request));
        entries.push_back(entry);
    } else {
        std::lock_guard lock(mutex_);
        for (auto& [domid, entry] : domains_)
            if (!entry->creating) entries.push_back(entry);
    }
    unsigned nr_cpus = host_cpu_count();
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& entry : entries) {
        DomainSpec spec;
        {
            std::lock_guard lock(mutex_);
            spec = entry->spec;
        }
        nlohmann::json info = monitor_info(run_dir_.control_socket(entry->domid));
        bool paused = info.value("state", "") == "p";
        auto threads = find_vcpu_threads(entry->pid, info);
        std::uint32_t count = spec.maxvcpus;
        for (const auto& thread : threads)
            count = std::max(count, thread.vcpu + 1);
        for (std::uint32_t vcpu = 0; vcpu < count; ++vcpu) {
            nlohmann::json out = {{"domid", entry->domid},
                                  {"name", entry->name},
                                  {"vcpu", vcpu},
                                  {"cpu", -1},
                                  {"state", "--p"},
                                  {"seconds", 0.0},
                                  {"affinity", vcpu_cpus(spec, vcpu)},
                                  {"online", false}};
            auto thread = std::find_if(threads.begin(), threads.end(),
                                       [&](const VcpuThread& t) { return t.vcpu == vcpu; });
            if (thread != threads.end() && thread->tid > 0) {
                if (auto stat = read_task_stat(entry->pid, thread->tid)) {
                    out["seconds"] = stat->seconds;
                    if (thread->online) {
                        // xl's three columns: running, blocked, paused (or offline).
                        std::string state = "---";
                        if (stat->state == 'R') state[0] = 'r';
                        if (stat->state == 'S' || stat->state == 'D') state[1] = 'b';
                        if (paused) state[2] = 'p';
                        out["state"] = state;
                        out["cpu"] = stat->cpu;
                        out["online"] = true;
                    }
                }
                if (auto cpus = thread_affinity(thread->tid))
                    out["affinity"] = format_cpu_list(*cpus, nr_cpus);
            }
            rows.push_back(out);
        }
    }
    return nlohmann::json{{"vcpus", rows}};
}

}  // namespace domus::toolstack
