// bench/run sched: how closely CFS group scheduling gives Xen's credit semantics. Two
// CPU-bound domains (bench_compute, a long run) pinned to host CPU 0 with weights 256 and
// 512 should split it 1:2; one CPU-bound domain capped at 50 should get half a CPU.
// Shares are the vCPU threads' on-CPU nanoseconds (/proc/.../schedstat) over 4 s.
#include "sched_bench.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "../tests/integration/process.hpp"
#include "figures.hpp"
#include "soak/soak.hpp"
#include "toolstack/json_socket.hpp"
#include "toolstack/run_dir.hpp"

namespace domus::bench {
namespace {

constexpr auto kWindow = std::chrono::seconds(4);

std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

class Run {
public:
    Run(const std::string& bin, const std::string& guests) : bin_(bin), guests_(guests) {
        dir_.root = "/tmp/domus-bench-sched-" + std::to_string(::getpid());
        ::setenv("DOMUS_RUN_DIR", dir_.root.c_str(), 1);
        started_ = test::run_process({bin_, "info"}, std::chrono::seconds(30)).status == 0;
    }
    ~Run() {
        soak::stop(dir_.root);  // and the domains' cgroups under the run directory's parent
        std::filesystem::remove_all(dir_.root);
    }
    bool started() const { return started_; }

    // A CPU-bound domain; its vCPU 0 thread as "/proc/<pid>/task/<tid>", or "".
    std::string create(const std::string& name, const std::string& extra) {
        std::string config = "name = \"" + name + "\"\nkernel = \"" + guests_ +
                             "/bench_compute.elf\"\nmemory = 16\n"
                             "cmdline = \"iterations=4000000\"\n" +
                             extra;
        auto reply = toolstack::json_request(dir_.daemon_socket(),
                                             {{"op", "create"}, {"config", config}, {"file", name}},
                                             std::chrono::seconds(30));
        if (!reply) {
            std::fprintf(stderr, "bench: sched: create %s: %s\n", name.c_str(),
                         reply.error().message.c_str());
            return "";
        }
        int domid = (*reply)["domid"].get<int>();
        auto record =
            nlohmann::json::parse(read(dir_.record(std::uint16_t(domid))), nullptr, false);
        if (record.is_discarded()) return "";
        std::string tasks = "/proc/" + std::to_string(record.value("pid", 0)) + "/task";
        std::error_code error;
        for (const auto& task : std::filesystem::directory_iterator(tasks, error))
            if (read(task.path() / "comm") == "vcpu0\n") return task.path().string();
        return "";
    }

    void destroy(const std::string& name) {
        (void)toolstack::json_request(dir_.daemon_socket(), {{"op", "destroy"}, {"domain", name}},
                                      std::chrono::seconds(30));
    }

private:
    std::string bin_, guests_;
    toolstack::RunDir dir_;
    bool started_ = false;
};

// Nanoseconds the thread has been on a CPU.
double on_cpu_ns(const std::string& task) {
    std::istringstream in(read(task + "/schedstat"));
    double ns = 0;
    in >> ns;
    return ns;
}

}  // namespace

void bench_sched(const std::string& bin, const std::string& guests) {
    if (!group_wanted("sched")) return;
    Run run(bin, guests);
    if (!run.started()) {
        std::fprintf(stderr, "bench: sched: domusd did not start\n");
        return;
    }
    if (wanted("sched_weight")) {
        std::string light = run.create("light", "weight = 256\ncpus = \"0\"\n");
        std::string heavy = run.create("heavy", "weight = 512\ncpus = \"0\"\n");
        if (!light.empty() && !heavy.empty()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(500));  // both spinning
            double light0 = on_cpu_ns(light), heavy0 = on_cpu_ns(heavy);
            std::this_thread::sleep_for(kWindow);
            double ratio = (on_cpu_ns(heavy) - heavy0) / (on_cpu_ns(light) - light0);
            emit("sched_weight_ratio", ratio, "ratio");
            emit("sched_weight_error_pct", std::abs(ratio - 2.0) / 2.0 * 100, "%");
        }
        run.destroy("light");
        run.destroy("heavy");
    }
    if (wanted("sched_cap")) {
        std::string capped = run.create("capped", "cap = 50\n");
        if (!capped.empty()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
            double start = on_cpu_ns(capped);
            auto t0 = std::chrono::steady_clock::now();
            std::this_thread::sleep_for(kWindow);
            double used = on_cpu_ns(capped) - start;
            double wall =
                std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0)
                    .count();
            double percent = used / wall * 100;
            emit("sched_cap_percent", percent, "%");
            emit("sched_cap_error_pct", std::abs(percent - 50.0) / 50.0 * 100, "%");
        }
        run.destroy("capped");
    }
}

}  // namespace domus::bench
