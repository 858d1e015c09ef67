// domus-bench: runs every benchmark and prints one line per figure, `name value unit`.
// Baselines (native execution) are measured in the same run. `domus-bench FILTER`
// runs only the figures whose name contains FILTER.
#include <x86intrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "../tests/integration/process.hpp"

extern "C" double compute_kernel(unsigned iterations);

namespace {

using domus::test::ProcessResult;
using domus::test::run_process;

std::string g_filter;
std::string g_bin = DOMUS_BIN;
std::string g_guests = DOMUS_GUEST_DIR;

bool wanted(const std::string& name) {
    return g_filter.empty() || name.find(g_filter) != std::string::npos;
}

void emit(const std::string& name, double value, const char* unit) {
    if (wanted(name)) std::printf("%s %.3f %s\n", name.c_str(), value, unit), std::fflush(stdout);
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

ProcessResult domus_run(const std::string& guest, std::vector<std::string> args) {
    std::vector<std::string> argv = {g_bin, "run", g_guests + "/" + guest + ".elf", "--no-input"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, std::chrono::seconds(120));
}

// name value [unit] lines printed by a bench guest (or --stats key=value pairs).
std::map<std::string, double> figures(const std::string& text) {
    std::map<std::string, double> out;
    std::regex line(R"(([a-z_0-9]+)[ =]([0-9]+(?:\.[0-9]+)?))");
    for (std::sregex_iterator it(text.begin(), text.end(), line), end; it != end; ++it)
        out[(*it)[1]] = std::stod((*it)[2]);
    return out;
}

double tsc_hz() {
    static double hz = [] {
        auto t0 = std::chrono::steady_clock::now();
        auto c0 = __rdtsc();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        auto c1 = __rdtsc();
        auto t1 = std::chrono::steady_clock::now();
        return double(c1 - c0) / std::chrono::duration<double>(t1 - t0).count();
    }();
    return hz;
}

void bench_boot() {
    if (!wanted("boot_to_main_ms") && !wanted("run_total_ms") &&
        !wanted("monitor_rss_overhead_mib"))
        return;
    constexpr int kRuns = 21;
    std::vector<double> to_main, total, overhead;
    for (int i = 0; i < kRuns; ++i) {
        // The guest prints the TSC at main(); the TSC is the host's (no offset on this
        // KVM), so main's TSC minus the TSC before spawning is the boot time.
        std::uint64_t start = __rdtsc();
        auto r = domus_run("bench_boot", {"--stats"});
        auto f = figures(r.out);
        if (r.status != 0 || !f.count("main_tsc")) {
            std::fprintf(stderr, "bench: bench_boot failed (%d): %s\n", r.status, r.err.c_str());
            return;
        }
        to_main.push_back((f["main_tsc"] - double(start)) / tsc_hz() * 1e3);
        auto s = figures(r.err);
        overhead.push_back(s["monitor_overhead_mib"]);
        auto h = domus_run("hello", {"--cmdline", "sleep_ms=0"});
        if (h.status != 0) {
            std::fprintf(stderr, "bench: hello failed (%d): %s\n", h.status, h.err.c_str());
            return;
        }
        total.push_back(h.elapsed.count());
    }
    emit("boot_to_main_ms", median(to_main), "ms");
    emit("run_total_ms", median(total), "ms");
    emit("monitor_rss_overhead_mib", median(overhead), "MiB");
}

void bench_events() {
    if (!wanted("hypercall_roundtrip_us") && !wanted("event_roundtrip_us") &&
        !wanted("upcall_inject_us"))
        return;
    auto r = domus_run("bench_hypercall", {"--vcpus", "2"});
    if (r.status != 0) {
        std::fprintf(stderr, "bench: bench_hypercall failed (%d): %s%s\n", r.status, r.out.c_str(),
                     r.err.c_str());
        return;
    }
    auto f = figures(r.out);
    for (const char* name : {"hypercall_roundtrip_us", "event_roundtrip_us", "upcall_inject_us"})
        if (f.count(name)) emit(name, f[name], "us");
}

void bench_compute() {
    if (!wanted("compute")) return;
    constexpr unsigned kIterations = 20000;  // the same work the guest does
    std::vector<double> native, guest;
    compute_kernel(1);  // warm up, as the guest does
    for (int i = 0; i < 5; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        double checksum = compute_kernel(kIterations);
        native.push_back(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        auto r =
            domus_run("bench_compute", {"--cmdline", "iterations=" + std::to_string(kIterations)});
        auto f = figures(r.out);
        if (r.status != 0 || !f.count("compute_seconds")) {
            std::fprintf(stderr, "bench: bench_compute failed (%d): %s\n", r.status, r.err.c_str());
            return;
        }
        guest.push_back(f["compute_seconds"]);
        // Same code, same input: the same result, or the comparison means nothing.
        if (std::abs(f["compute_checksum"] - checksum) > 1e-6 * std::abs(checksum)) {
            std::fprintf(stderr, "bench: guest checksum %f != native %f\n", f["compute_checksum"],
                         checksum);
            return;
        }
    }
    emit("compute_native_s", median(native), "s");
    emit("compute_guest_s", median(guest), "s");
    emit("compute_vs_native", median(native) / median(guest), "ratio");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1) g_filter = argv[1];
    bench_boot();
    bench_events();
    bench_compute();
    return 0;
}
