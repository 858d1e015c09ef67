// A domain's CPU cgroup: where its vCPU threads run under the credit scheduler's weight
// and cap (docs/scheduling.md), on cgroup v1 (cpu controller) or v2 (unified hierarchy).
//
// Layout under the cpu hierarchy's root (`parent` is domusd's --cgroup-parent):
//   v1: <root>/<parent>/dom<N>/          tasks = the vCPU threads; cpu.shares,
//                                         cpu.cfs_quota_us, cpu.cfs_period_us
//   v2: <root>/<parent>/dom<N>/          "domain threaded": the monitor process
//                                         (cgroup.procs); cpu.weight
//       <root>/<parent>/dom<N>/vcpus/    "threaded": the vCPU threads (cgroup.threads);
//                                         cpu.max
// Every path is built from `root`, so tests run the same code against a fake tree of
// plain directories and files in a temporary directory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace domus::toolstack {

enum class CgroupVersion { V1, V2 };

// Where the cpu controller lives: a v1 hierarchy mounted with the "cpu" option (it wins
// on hybrid hosts, where the controller cannot also be in v2), else the unified one.
struct CpuCgroupMount {
    CgroupVersion version = CgroupVersion::V1;
    std::string root;  // /sys/fs/cgroup/cpu (v1), /sys/fs/cgroup (v2)
};

// Reads /proc/self/mountinfo text (pure, for tests).
Result<CpuCgroupMount> find_cpu_cgroup_mount(std::string_view mountinfo);
// This host's, from /proc/self/mountinfo.
Result<CpuCgroupMount> detect_cpu_cgroup_mount();

// Xen's credit scheduler parameters (xl sched-credit).
constexpr std::uint32_t kDefaultWeight = 256;
constexpr std::uint32_t kMaxWeight = 65535;
constexpr std::uint64_t kCapPeriodUs = 100'000;  // CFS bandwidth period for a cap

struct SchedParams {
    std::uint32_t weight = kDefaultWeight;  // 1..65535, relative
    std::uint32_t cap = 0;                  // percent of one CPU; 0 = no cap

    bool operator==(const SchedParams&) const = default;
};

// v1: Xen's default 256 is the cgroup default 1024 shares; ×4 keeps the whole range
// (1..65535 → 4..262140, inside cpu.shares' 2..262144).
std::uint64_t weight_to_shares(std::uint32_t weight);
// v2: Xen's 256 is the cgroup default 100, proportionally (weight × 100 / 256), clamped
// to cpu.weight's 1..10000 (so Xen weights above 25600 all mean 10000).
std::uint32_t weight_to_cpu_weight(std::uint32_t weight);
// The CFS quota per kCapPeriodUs for a cap of `cap` percent of one CPU (0: none).
std::uint64_t cap_to_quota_us(std::uint32_t cap);

class DomainCgroup {
public:
    // Creates <root>/<parent>/dom<domid> (and the parent, and on v2 the vcpus child and
    // the controller delegation above them), or finds it again if it exists (a
    // restarted domusd).
    static Result<DomainCgroup> create(const CpuCgroupMount& mount, const std::string& parent,
                                       std::uint16_t domid);

    // v2: moves the monitor process (all its threads) into the domain group, which
    // the vCPU threads' threaded child requires. v1: nothing (only vCPUs move).
    Result<void> add_monitor(pid_t pid) const;
    // Moves one vCPU thread into the group the weight and cap apply to.
    Result<void> add_vcpu_thread(pid_t tid) const;
    // The weight and cap; nothing to write when they are the defaults of a group made
    // by create() and not set since.
    Result<void> set(const SchedParams& params);
    // Removes the groups (once their threads have exited). Missing groups are fine.
    Result<void> remove() const;

    const std::string& path() const { return path_; }  // the domain group
    std::string vcpu_group() const;                    // where the vCPU threads go
    CgroupVersion version() const { return version_; }

private:
    DomainCgroup(CgroupVersion version, std::string path)
        : version_(version), path_(std::move(path)) {}

    CgroupVersion version_;
    std::string path_;
    bool at_defaults_ = false;  // made by create(), as the kernel makes a group
};

// domusd's default parent: "domus" for the default run directory /run/domus, else one
// named after the run directory ("/tmp/t 1" -> "domus-tmp-t-1"), so the daemons of
// different run directories (tests side by side) never share a domain's group.
std::string default_cgroup_parent(const std::string& run_dir);

// The domain groups (dom<N>) under <root>/<parent>, by domain ID.
std::vector<std::uint16_t> domain_cgroups(const CpuCgroupMount& mount, const std::string& parent);

// Removes <root>/<parent> (its last component) and the domain groups a killed domusd
// left in it, once their threads have exited (tests' and benches' own parents).
Result<void> remove_cgroup_parent(const CpuCgroupMount& mount, const std::string& parent);

}  // namespace domus::toolstack
