// A domain's vCPU threads: finding them, reading their /proc stat, and their affinity
// (vcpu_threads.hpp).
#include "toolstack/vcpu_threads.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace domus::toolstack {
namespace {

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

std::vector<VcpuThread> find_vcpu_threads(pid_t pid, const nlohmann::json& info) {
    std::vector<VcpuThread> out;
    if (auto list = info.find("vcpu_list"); list != info.end() && list->is_array()) {
        for (const auto& item : *list) {
            if (!item.is_object() || !item.contains("vcpu")) continue;
            out.push_back({item["vcpu"].get<std::uint32_t>(), item.value("tid", pid_t(0)),
                           item.value("online", true)});
        }
    } else {
        std::error_code error;
        std::string tasks = "/proc/" + std::to_string(pid) + "/task";
        for (const auto& task : std::filesystem::directory_iterator(tasks, error)) {
            std::string comm = read_text(task.path().string() + "/comm");
            if (!comm.starts_with("vcpu")) continue;
            std::uint32_t vcpu = 0;
            auto digits = std::string_view(comm).substr(4);
            auto [end, failed] =
                std::from_chars(digits.data(), digits.data() + digits.size(), vcpu);
            if (failed != std::errc() || end == digits.data() || (*end != '\n' && *end != '\0'))
                continue;
            out.push_back({vcpu, pid_t(std::stol(task.path().filename().string())), true});
        }
    }
    std::sort(out.begin(), out.end(),
              [](const VcpuThread& a, const VcpuThread& b) { return a.vcpu < b.vcpu; });
    return out;
}

std::optional<TaskStat> parse_task_stat(std::string_view stat, long ticks_per_second) {
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    auto close = stat.rfind(')');
    if (close == std::string_view::npos) return std::nullopt;
    std::istringstream fields{std::string(stat.substr(close + 1))};
    std::vector<std::string> field;  // field[0] is field 3 (state)
    for (std::string f; fields >> f;)
        field.push_back(f);
    if (field.size() < 37) return std::nullopt;
    TaskStat out;
    out.state = field[0][0];
    try {
        double ticks = std::stod(field[11]) + std::stod(field[12]);  // fields 14, 15
        out.seconds = ticks / double(ticks_per_second > 0 ? ticks_per_second : 100);
        out.cpu = std::stoi(field[36]);  // field 39
    } catch (const std::exception&) {
        return std::nullopt;
    }
    return out;
}

std::optional<TaskStat> read_task_stat(pid_t pid, pid_t tid) {
    std::string text =
        read_text("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/stat");
    return parse_task_stat(text, ::sysconf(_SC_CLK_TCK));
}

Result<void> set_thread_affinity(pid_t tid, const std::vector<unsigned>& cpus) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (unsigned cpu : cpus)
        if (cpu < CPU_SETSIZE) CPU_SET(cpu, &set);
    if (::sched_setaffinity(tid, sizeof(set), &set) < 0)
        return errno_error(fmt::format("sched_setaffinity of thread {}", tid));
    return {};
}

Result<std::vector<unsigned>> thread_affinity(pid_t tid) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(tid, sizeof(set), &set) < 0)
        return errno_error(fmt::format("sched_getaffinity of thread {}", tid));
    std::vector<unsigned> out;
    for (unsigned cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (CPU_ISSET(cpu, &set)) out.push_back(cpu);
    return out;
}

}  // namespace domus::toolstack
