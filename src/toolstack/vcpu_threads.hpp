// A running domain's vCPU threads as the host sees them: which thread is which vCPU (the
// monitor's `info` vcpu_list, or the threads' names vcpu<n>), where each last ran, its
// CPU time, and its CPU affinity.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace domus::toolstack {

struct VcpuThread {
    std::uint32_t vcpu = 0;
    pid_t tid = 0;       // 0: no thread (an offline vCPU whose thread is not running)
    bool online = true;  // as the monitor's vcpu_list says; found by name: true
};

// The vCPU threads of monitor `pid`, by vCPU: from `info`'s "vcpu_list" ([{"vcpu": n,
// "online": bool, "tid": tid}, ...]) when the monitor reports one, else by scanning
// /proc/<pid>/task/*/comm for vcpu<n>.
std::vector<VcpuThread> find_vcpu_threads(pid_t pid, const nlohmann::json& info);

// Fields of /proc/<pid>/task/<tid>/stat.
struct TaskStat {
    char state = '?';    // R, S, D, T, ...
    int cpu = -1;        // field 39: the CPU it last ran on
    double seconds = 0;  // utime + stime
};
std::optional<TaskStat> parse_task_stat(std::string_view stat, long ticks_per_second);
std::optional<TaskStat> read_task_stat(pid_t pid, pid_t tid);

// sched_setaffinity/sched_getaffinity of one thread; errors name the thread and errno.
Result<void> set_thread_affinity(pid_t tid, const std::vector<unsigned>& cpus);
Result<std::vector<unsigned>> thread_affinity(pid_t tid);

}  // namespace domus::toolstack
