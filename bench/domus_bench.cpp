// domus-bench: runs every benchmark and prints one line per figure, `name value unit`.
// Baselines (native execution) are measured in the same run. `domus-bench FILTER`
// runs only the figures whose name contains FILTER.
#include <x86intrin.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <random>

#include <sys/stat.h>
#include <cstdio>
#include <cstring>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "base/fd.hpp"

#include "../tests/integration/process.hpp"
#include "figures.hpp"
#include "host_io.hpp"
#include "migrate_bench.hpp"
#include "net_bench.hpp"
#include "run_root.hpp"
#include "sched_bench.hpp"
#include "soak/soak.hpp"
#include "store/client.hpp"
#include "toolstack/json_socket.hpp"
#include "toolstack/run_dir.hpp"

extern "C" double compute_kernel(unsigned iterations);
void bench_memory();  // memory_bench.cpp

namespace {

using domus::bench::emit;
using domus::bench::group_wanted;
using domus::bench::host_io;
using domus::bench::wanted;
using domus::test::ProcessResult;
using domus::test::run_process;

std::string g_bin = DOMUS_BIN;
std::string g_guests = DOMUS_GUEST_DIR;

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
    std::vector<double> to_main, total, overhead, private_mib;
    // The monitor's timeline (domus run --stats): each step's time, and before its first
    // mark the process start (exec, dynamic linking); after vCPU 0 started, the guest's
    // own start-up until main().
    std::map<std::string, std::vector<double>> steps;
    std::vector<std::string> order;  // steps as the monitor took them
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
        private_mib.push_back(s["monitor_private_mib"]);
        if (s.count("monitor_start_tsc")) {
            double ms_per_tsc = 1e3 / tsc_hz();
            steps["process_start"].push_back((s["monitor_start_tsc"] - double(start)) * ms_per_tsc);
            // The marks in the monitor's order, as it printed them.
            static const std::regex step(R"(step_([a-z_0-9]+)_us=([0-9.]+))");
            double until_started = s["monitor_start_tsc"];
            bool started = false;
            for (std::sregex_iterator it(r.err.begin(), r.err.end(), step), end; it != end; ++it) {
                std::string name = (*it)[1];
                double us = std::stod((*it)[2]);
                if (!steps.count(name)) order.push_back(name);
                steps[name].push_back(us / 1e3);
                if (!started) until_started += us / 1e3 / ms_per_tsc;
                started = started || name == "vcpus_started";
            }
            steps["guest_start_to_main"].push_back((f["main_tsc"] - until_started) * ms_per_tsc);
            // The guest's part by its own marks: the vCPU thread's first KVM_RUN until the
            // kernel's first C line, the kernel's set-up, main's thread (vCPU and balloon
            // start-up), the C library's start.
            if (f.count("kernel_entry_tsc") && f.count("kernel_ready_tsc") &&
                f.count("main_call_tsc")) {
                steps["guest_first_entry"].push_back((f["kernel_entry_tsc"] - until_started) *
                                                     ms_per_tsc);
                steps["guest_kernel_init"].push_back(
                    (f["kernel_ready_tsc"] - f["kernel_entry_tsc"]) * ms_per_tsc);
                steps["guest_main_thread"].push_back((f["main_call_tsc"] - f["kernel_ready_tsc"]) *
                                                     ms_per_tsc);
                steps["guest_libc_start"].push_back((f["main_tsc"] - f["main_call_tsc"]) *
                                                    ms_per_tsc);
            }
        }
        auto h = domus_run("hello", {"--cmdline", "sleep_ms=0"});
        if (h.status != 0) {
            std::fprintf(stderr, "bench: hello failed (%d): %s\n", h.status, h.err.c_str());
            return;
        }
        total.push_back(h.elapsed.count());
    }
    emit("boot_to_main_ms", median(to_main), "ms");
    // Where boot_to_main_ms goes (medians, so they need not add up exactly), then the
    // teardown steps of the same runs (after the guest's shutdown hypercall).
    emit("boot_step_process_start_ms", median(steps["process_start"]), "ms");
    bool teardown = false;
    for (const auto& name : order) {
        teardown = teardown || name == "guest_shutdown";
        if (name == "guest_shutdown") {
            emit("boot_step_guest_start_to_main_ms", median(steps["guest_start_to_main"]), "ms");
            for (const char* part : {"guest_first_entry", "guest_kernel_init", "guest_main_thread",
                                     "guest_libc_start"})
                if (!steps[part].empty())
                    emit(std::string("boot_step_") + part + "_ms", median(steps[part]), "ms");
            continue;  // the guest's main and its printing: not boot, not teardown
        }
        emit((teardown ? "teardown_step_" : "boot_step_") + name + "_ms", median(steps[name]),
             "ms");
    }
    emit("run_total_ms", median(total), "ms");
    emit("monitor_rss_overhead_mib", median(overhead), "MiB");
    emit("monitor_private_mib", median(private_mib), "MiB");
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

// How late a guest's 50 ms sleep ends (its timer's one-shot deadline, delivered as
// VIRQ_TIMER): the median over runs, by the guest's clock.
void bench_timer() {
    if (!wanted("timer_sleep_50ms_late_ms")) return;
    std::vector<double> late;
    for (int i = 0; i < 11; ++i) {
        auto r = domus_run("timer", {});
        auto f = figures(r.out);
        if (r.status != 0 || !f.count("sleep_ms")) {
            std::fprintf(stderr, "bench: timer failed (%d): %s\n", r.status, r.err.c_str());
            return;
        }
        late.push_back(f["sleep_ms"] - 50.0);
    }
    emit("timer_sleep_50ms_late_ms", median(late), "ms");
}

void bench_compute() {
    if (!group_wanted("compute")) return;
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

// Kills every process started for `run_dir` (daemon, store, monitors), matched by their
// exact --run-dir argument.
void kill_run_dir(const std::string& run_dir) {
    domus::soak::stop(run_dir);
}

void bench_toolstack() {
    if (!wanted("create_to_running_ms") && !wanted("create_to_main_ms") &&
        !wanted("domains_started_per_s") && !wanted("max_domains"))
        return;
    const char* limit = std::getenv("DOMUS_BENCH_MAX_DOMAINS");
    const int kDomains = limit ? std::atoi(limit) : 1000;  // 16 MiB each
    domus::toolstack::RunDir dir{domus::bench::run_root("domus-bench")};
    ::setenv("DOMUS_RUN_DIR", dir.root.c_str(), 1);
    auto started =
        run_process({g_bin, "info"}, std::chrono::seconds(30));  // starts domusd and the store
    if (started.status != 0) {
        std::fprintf(stderr, "bench: domusd did not start: %s\n", started.err.c_str());
        return;
    }
    std::vector<double> create_ms;
    std::vector<std::uint64_t> create_tsc;  // the TSC as each create was sent
    std::vector<int> domids;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kDomains; ++i) {
        std::string config = "name = \"bench" + std::to_string(i) + "\"\nkernel = \"" + g_guests +
                             "/idle.elf\"\nmemory = 16\n";
        auto t = std::chrono::steady_clock::now();
        create_tsc.push_back(__rdtsc());
        auto reply = domus::toolstack::json_request(
            dir.daemon_socket(), {{"op", "create"}, {"config", config}, {"file", "bench"}});
        if (!reply) {
            std::fprintf(stderr, "bench: create %d failed: %s\n", i, reply.error().message.c_str());
            break;
        }
        create_ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t)
                .count());
        domids.push_back((*reply)["domid"].get<int>());
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Responsive = the guest answers a store round trip: dom0 writes data/ping, the
    // guest's watch copies it to data/pong.
    int responsive = 0;
    if (auto store = domus::store::Client::connect(dir.store_socket())) {
        for (int domid : domids)
            (void)store->write(fmt::format("/local/domain/{}/data/ping", domid),
                               "p" + std::to_string(domid));
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        std::vector<bool> answered(domids.size(), false);
        while (responsive < int(domids.size()) && std::chrono::steady_clock::now() < deadline) {
            for (std::size_t i = 0; i < domids.size(); ++i) {
                if (answered[i]) continue;
                auto pong = store->read(fmt::format("/local/domain/{}/data/pong", domids[i]));
                if (pong && *pong == "p" + std::to_string(domids[i]))
                    answered[i] = true, ++responsive;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    // From the create request to the guest's main() (idle publishes its TSC there): what
    // LightVM's 2.3 ms measures, through domusd and its warm monitors.
    std::vector<double> to_main;
    if (auto store = domus::store::Client::connect(dir.store_socket()))
        for (std::size_t i = 0; i < std::min<std::size_t>(domids.size(), 20); ++i)
            if (auto tsc =
                    store->read(fmt::format("/local/domain/{}/data/idle/started-tsc", domids[i]))) {
                char* end = nullptr;
                double main_tsc = std::strtod(tsc->c_str(), &end);  // the guest's word
                if (end != tsc->c_str() && *end == '\0')
                    to_main.push_back((main_tsc - double(create_tsc[i])) / tsc_hz() * 1e3);
            }
    if (!to_main.empty()) emit("create_to_main_ms", median(to_main), "ms");
    if (!create_ms.empty()) {
        std::vector<double> first(create_ms.begin(),
                                  create_ms.begin() + std::min<std::size_t>(create_ms.size(), 20));
        emit("create_to_running_ms", median(first), "ms");
        emit("domains_started_per_s", double(create_ms.size()) / seconds, "domains/s");
    }
    emit("max_domains", responsive, "domains");
    kill_run_dir(dir.root);
    std::filesystem::remove_all(dir.root);
}

// QEMU's block layer alone on the host, no guest: `qemu-img bench` of `image` (qcow2),
// 32 requests of 128 KiB in flight through the page cache, best of three; MiB/s, or 0
// when qemu-img is missing or fails.
double qemu_img_bench(const std::string& image, bool write, std::uint64_t bytes) {
    constexpr std::uint64_t kBlock = 128 << 10;
    double best = 0;
    for (int i = 0; i < 3; ++i) {
        std::vector<std::string> argv = {"/usr/bin/qemu-img",
                                         "bench",
                                         "-f",
                                         "qcow2",
                                         "-d",
                                         "32",
                                         "-t",
                                         "writeback",
                                         "-s",
                                         "128K",
                                         "-c",
                                         std::to_string(bytes / kBlock)};
        if (write) argv.push_back("-w");
        argv.push_back(image);
        auto r = run_process(argv, std::chrono::seconds(60));
        std::smatch m;
        static const std::regex done(R"(Run completed in ([0-9.]+) seconds)");
        if (r.status != 0 || !std::regex_search(r.out, m, done)) return 0;
        double seconds = std::stod(m[1]);
        if (seconds > 0) best = std::max(best, double(bytes) / (1024.0 * 1024.0) / seconds);
    }
    return best;
}

// qcow2 in a domain (Domus's own qcow2 engine behind blkback) against QEMU's on the
// same image, both through the page cache, the clusters allocated beforehand.
template <class BestPv>
void bench_qcow2(const std::string& dir, BestPv& best_pv) {
    std::string image = dir + "/disk.qcow2";
    constexpr std::uint64_t kBytes = 256ull << 20;
    if (run_process({"/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", image, "256M"},
                    std::chrono::seconds(30))
                .status != 0 ||
        run_process({"/usr/bin/qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 256M", image},
                    std::chrono::seconds(60))
                .status != 0) {
        std::fprintf(stderr, "bench: qemu-img/qemu-io unavailable: no qcow2 figures\n");
        return;
    }
    for (bool write : {false, true}) {
        std::string mode = write ? "seqwrite" : "seqread";
        std::string key = "blk_" + std::string(write ? "seq_write" : "seq_read") + "_qd32_mib_s";
        auto pv = best_pv("mode=" + mode + " size_mb=256 block_kb=128 qd=32", key, image);
        // Four passes over the image: qemu-img prints milliseconds, a pass takes ~30.
        double qemu = qemu_img_bench(image, write, 4 * kBytes);
        std::string name = "blk_qcow2_" + std::string(write ? "seq_write" : "seq_read") + "_mib_s";
        emit(name, pv[key], "MiB/s");
        // Requests the backend had in flight at once (the guest keeps 32 outstanding).
        emit(name.substr(0, name.size() - 6) + "_max_in_flight", pv["blk_max_in_flight"],
             "requests");
        if (qemu > 0) {
            emit(name + "_qemu_img_bench", qemu, "MiB/s");
            emit(name + "_vs_qemu_img_bench", pv[key] / qemu, "ratio");
        }
    }
}

// Microseconds per MiB for the host's first touch of fresh shared memory (a memfd, as
// guest RAM is), median of five 4 MiB runs.
double host_first_touch_us_per_mib() {
    constexpr std::size_t kBytes = 4 << 20;
    std::vector<double> runs;
    for (int i = 0; i < 5; ++i) {
        domus::Fd fd(::memfd_create("touch", MFD_CLOEXEC));
        if (!fd || ::ftruncate(fd.get(), kBytes) != 0) return 0;
        void* memory = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
        if (memory == MAP_FAILED) return 0;
        auto t0 = std::chrono::steady_clock::now();
        std::memset(memory, 0x3c, kBytes);
        auto t1 = std::chrono::steady_clock::now();
        ::munmap(memory, kBytes);
        runs.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / 4);
    }
    return median(runs);
}

void bench_block() {
    if (!group_wanted("blk_") && !group_wanted("edisk_")) return;
    domus::toolstack::RunDir dir{"/tmp/domus-blkbench-" + std::to_string(::getpid())};
    ::setenv("DOMUS_RUN_DIR", dir.root.c_str(), 1);
    if (run_process({g_bin, "info"}, std::chrono::seconds(30)).status != 0)
        return;  // starts the store
    std::string image = dir.root + "/disk.img";
    constexpr std::uint64_t kBytes = 256ull << 20;
    {
        domus::Fd fd(::open(image.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
        (void)::ftruncate(fd.get(), off_t(kBytes));
    }
    // `direct`: the disk with `direct-io-safe` (O_DIRECT, the host page cache bypassed).
    // `target`: another image (default: the raw one), as `format`.
    auto pv = [&](const std::string& cmdline, bool direct = false, const std::string& target = "",
                  const std::string& format = "raw") {
        std::string disk = "format=" + format + ", vdev=xvda, " +
                           (direct ? "direct-io-safe, " : "") +
                           "target=" + (target.empty() ? image : target);
        auto r = domus_run("blk_tool", {"--store-run-dir", dir.root, "--domid", "900", "--stats",
                                        "--disk", disk, "--cmdline", cmdline});
        auto f = figures(r.out);
        auto s = figures(r.err);
        for (auto& [k, v] : s)
            f[k] = v;
        if (r.status != 0)
            std::fprintf(stderr, "bench: blk_tool %s failed: %s%s\n", cmdline.c_str(),
                         r.out.c_str(), r.err.c_str());
        return f;
    };
    // Sequential: 128 MiB in 128 KiB requests (indirect segments), kSeqLoops times over;
    // random: 4 KiB for 2 s. Memory bandwidth on this shared host moves from one tens of
    // milliseconds to the next, so a pass reads 512 MiB, and both sides, guest and host,
    // run kSeqRuns passes of which the best counts.
    constexpr int kSeqRuns = 3;
    constexpr unsigned kSeqLoops = 4;
    const std::string loops = " loops=" + std::to_string(kSeqLoops);
    auto best_pv = [&](const std::string& cmdline, const std::string& key,
                       const std::string& qcow2 = "") {
        std::map<std::string, double> best;
        for (int i = 0; i < kSeqRuns; ++i) {
            auto f = qcow2.empty() ? pv(cmdline) : pv(cmdline, false, qcow2, "qcow2");
            if (best.empty() || f[key] > best[key]) best = f;
        }
        return best;
    };
    auto best_host = [&](bool write, std::size_t buffers) {
        double best = 0;
        for (int i = 0; i < kSeqRuns; ++i)
            best = std::max(best, host_io(image, write, false, 128 << 10, 128ull << 20, buffers,
                                          false, kSeqLoops));
        return best;
    };
    auto seq_write =
        best_pv("mode=seqwrite size_mb=128 block_kb=128 qd=32" + loops, "blk_seq_write_qd32_mib_s");
    auto seq_read =
        best_pv("mode=seqread size_mb=128 block_kb=128 qd=32" + loops, "blk_seq_read_qd32_mib_s");
    auto rand_qd1 = pv("mode=randread size_mb=128 qd=1");
    auto rand_qd32 = pv("mode=randread size_mb=128 qd=32");
    double host_seq_write = best_host(true, 32);  // the guest has 32 requests in flight
    double host_seq_read = best_host(false, 32);
    double host_seq_read_one_buffer = best_host(false, 1);
    double host_rand = host_io(image, false, true, 4096, 128ull << 20);
    // The emulated disk: a smaller run, it is slow (writes ~128 exits per sector).
    auto edisk = [&](const std::string& cmdline) {
        auto r =
            domus_run("disk_bench", {"--stats", "--emulated-disk", image, "--cmdline", cmdline});
        auto f = figures(r.out);
        for (auto& [k, v] : figures(r.err))
            f[k] = v;
        return f;
    };
    auto e_read = edisk("mode=seqread size_mb=4");
    auto e_rand = edisk("mode=randread ops=256");
    auto e_write = edisk("mode=seqwrite size_kb=256");

    auto emit_ratio = [&](const char* name, double value, const char* unit, double host,
                          double emulated) {
        emit(name, value, unit);
        if (host > 0) emit(std::string(name) + "_vs_host", value / host, "ratio");
        if (emulated > 0) emit(std::string(name) + "_vs_emulated", value / emulated, "ratio");
    };
    emit_ratio("blk_seq_read_mib_s", seq_read["blk_seq_read_qd32_mib_s"], "MiB/s", host_seq_read,
               e_read["edisk_seq_read_mib_s"]);
    // And against one buffer (a plain read loop; on this host not always the faster).
    if (host_seq_read_one_buffer > 0)
        emit("blk_seq_read_mib_s_vs_host_one_buffer",
             seq_read["blk_seq_read_qd32_mib_s"] / host_seq_read_one_buffer, "ratio");
    emit_ratio("blk_seq_write_mib_s", seq_write["blk_seq_write_qd32_mib_s"], "MiB/s",
               host_seq_write, e_write["edisk_seq_write_mib_s"]);
    emit_ratio("blk_rand4k_read_iops", rand_qd1["blk_rand4k_read_iops"], "IOPS", host_rand,
               e_rand["edisk_rand4k_read_iops"]);
    emit_ratio("blk_rand4k_read_qd32_iops", rand_qd32["blk_rand4k_read_qd32_iops"], "IOPS",
               host_rand, 0);
    emit("blk_exits_per_mib", seq_read["blk_exits_per_mib"], "exits/MiB");
    // Where a 128 KiB request's time goes, stage by stage (CPU time on each side; the
    // guest's wait is the backend's turn seen from the guest), and what it costs in
    // grant operations, lock acquisitions and notifications.
    const std::pair<const char*, const char*> stages[] = {
        {"guest_submit_us", "us/request"},     {"backend_take_us", "us/request"},
        {"backend_io_us", "us/request"},       {"backend_respond_us", "us/request"},
        {"backend_notify_us", "us/request"},   {"guest_complete_us", "us/request"},
        {"guest_wait_us", "us/request"},       {"guest_grant_ops_per_request", "ops"},
        {"guest_locks_per_request", "locks"},  {"guest_notifications_per_request", "doorbells"},
        {"guest_sleeps_per_request", "sleeps"}};
    for (const auto& [pass, run] : {std::pair{"seq_read", &seq_read}, {"seq_write", &seq_write}})
        for (const auto& [stage, unit] : stages)
            if (auto it = run->find(std::string("blk_") + stage); it != run->end())
                emit(std::string("blk_") + pass + "_" + stage, it->second, unit);
    // Guest memory the guest touches first costs nested paging faults; the backend's
    // side of the same memory is ordinary host memory. Host: a fresh memfd, as guest RAM.
    emit("blk_guest_first_touch_us_per_mib", seq_read["blk_guest_first_touch_us_per_mib"],
         "us/MiB");
    emit("blk_guest_touch_us_per_mib", seq_read["blk_guest_touch_us_per_mib"], "us/MiB");
    emit("blk_host_first_touch_us_per_mib", host_first_touch_us_per_mib(), "us/MiB");
    // The other design: persistent grants (the guest copies through bounce pages the
    // backend keeps mapped) against the default zero-copy grants of the caller's pages.
    if (group_wanted("blk_persistent_")) {
        for (bool write : {false, true}) {
            std::string pass = write ? "seq_write" : "seq_read";
            std::string key = "blk_" + pass + "_qd32_mib_s";
            auto f = best_pv(std::string("mode=") + (write ? "seqwrite" : "seqread") +
                                 " size_mb=128 block_kb=128 qd=32 blkfront.persistent=1",
                             key);
            double zero_copy = (write ? seq_write : seq_read)[key];
            emit("blk_persistent_" + pass + "_mib_s", f[key], "MiB/s");
            if (zero_copy > 0)
                emit("blk_persistent_" + pass + "_mib_s_vs_zero_copy", f[key] / zero_copy, "ratio");
            emit("blk_persistent_" + pass + "_guest_complete_us", f["blk_guest_complete_us"],
                 "us/request");
            emit("blk_persistent_" + pass + "_backend_take_us", f["blk_backend_take_us"],
                 "us/request");
        }
    }
    // O_DIRECT on both sides: the device's own speed, one host thread against the guest's
    // 32 requests in flight (io_uring in the backend).
    if (group_wanted("blk_direct_")) {
        auto d_read = pv("mode=seqread size_mb=128 block_kb=128 qd=32", true);
        auto d_write = pv("mode=seqwrite size_mb=128 block_kb=128 qd=32", true);
        auto d_rand = pv("mode=randread size_mb=128 qd=32", true);
        emit_ratio("blk_direct_seq_read_mib_s", d_read["blk_seq_read_qd32_mib_s"], "MiB/s",
                   host_io(image, false, false, 128 << 10, 128ull << 20, 32, true), 0);
        emit_ratio("blk_direct_seq_write_mib_s", d_write["blk_seq_write_qd32_mib_s"], "MiB/s",
                   host_io(image, true, false, 128 << 10, 128ull << 20, 32, true), 0);
        emit_ratio("blk_direct_rand4k_read_qd32_iops", d_rand["blk_rand4k_read_qd32_iops"], "IOPS",
                   host_io(image, false, true, 4096, 128ull << 20, 1, true), 0);
    }
    if (group_wanted("blk_qcow2_")) bench_qcow2(dir.root, best_pv);
    emit("edisk_exits_per_mib", e_read["edisk_exits_per_mib"], "exits/MiB");
    emit("edisk_seq_write_exits_per_mib", e_write["edisk_exits_per_mib"], "exits/MiB");
    kill_run_dir(dir.root);
    std::filesystem::remove_all(dir.root);
}

}  // namespace

// The host's busy CPU time so far, every CPU, guests' time included (/proc/stat), in ms.
double host_busy_ms() {
    std::ifstream stat("/proc/stat");
    std::string cpu;
    double user, nice, system, idle, iowait, irq, softirq, steal;
    stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
    return (user + nice + system + irq + softirq + steal) * 1e3 / double(::sysconf(_SC_CLK_TCK));
}

// Creates and destroys through domusd from `clients` threads at once, `pairs` in all,
// each domain destroyed once its guest runs (idle's data/idle/status in the store): pairs
// a second, and the host's CPU time per pair (what bounds the rate on 2 cores).
void bench_parallel_churn(int clients, int pairs) {
    domus::toolstack::RunDir dir{domus::bench::run_root("domus-churn")};
    ::setenv("DOMUS_RUN_DIR", dir.root.c_str(), 1);
    if (run_process({g_bin, "info"}, std::chrono::seconds(30)).status != 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the pool warm
    std::atomic<int> next{0}, done{0}, failed{0};
    double cpu0 = host_busy_ms();
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c)
        threads.emplace_back([&] {
            auto store = domus::store::Client::connect(dir.store_socket());
            if (!store) {
                ++failed;
                return;
            }
            for (int i; (i = next++) < pairs;) {
                std::string config = "name = \"churn" + std::to_string(i) + "\"\nkernel = \"" +
                                     g_guests + "/idle.elf\"\nmemory = 16\n";
                auto reply = domus::toolstack::json_request(
                    dir.daemon_socket(), {{"op", "create"}, {"config", config}, {"file", "churn"}});
                if (!reply || !reply->contains("domid")) {
                    ++failed;
                    continue;
                }
                std::string domid = std::to_string((*reply)["domid"].get<int>());
                // Waits as xl does, on a watch (it fires once as it is set, then on each
                // change): polling the node would load the store it measures.
                std::string status_path = "/local/domain/" + domid + "/data/idle/status";
                auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
                auto drop_events = [&] {  // each is only a sign to read again
                    for (;;) {
                        auto event = store->next_event(false);
                        if (!event || !*event) return;
                    }
                };
                if (store->watch(status_path, domid)) {
                    for (;;) {
                        auto status = store->read(status_path);
                        if (status && *status == "running") break;
                        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now());
                        pollfd ready{store->fd(), POLLIN, 0};
                        if (left.count() <= 0 || ::poll(&ready, 1, int(left.count()) + 1) <= 0)
                            break;
                        drop_events();
                    }
                    (void)store->unwatch(status_path, domid);
                    drop_events();
                }
                auto gone = domus::toolstack::json_request(dir.daemon_socket(),
                                                           {{"op", "destroy"}, {"domain", domid}});
                if (gone && !gone->contains("error"))
                    ++done;
                else
                    ++failed;
            }
        });
    for (auto& t : threads)
        t.join();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double cpu_ms = host_busy_ms() - cpu0;
    if (failed) std::fprintf(stderr, "bench: churn: %d pairs failed\n", failed.load());
    emit("soak_parallel_create_destroy_per_s", done / seconds, "pairs/s");
    emit("soak_cpu_ms_per_pair", done ? cpu_ms / done : 0, "ms");
    kill_run_dir(dir.root);
    std::filesystem::remove_all(dir.root);
}

// The churn soak (opt-in: `bench/run soak`; several minutes): 600 domains through domusd,
// at most 200 alive, a disk round every tenth, store traffic, domusd and the store each
// killed once; what the daemons hold at the start and the end.
void bench_soak() {
    if (!domus::bench::figure_filter().starts_with("soak")) return;
    domus::soak::Options options;
    options.run_dir = domus::bench::run_root("domus-soak");
    options.domus = g_bin;
    options.guest = g_guests + "/idle.elf";
    if (const char* n = std::getenv("DOMUS_SOAK_DOMAINS")) options.domains = std::atoi(n);
    ::mkdir(options.run_dir.c_str(), 0700);
    ::setenv("DOMUS_RUN_DIR", options.run_dir.c_str(), 1);
    auto r = domus::soak::run(options);
    kill_run_dir(options.run_dir);
    std::filesystem::remove_all(options.run_dir);
    for (const auto& error : r.errors)
        std::fprintf(stderr, "bench: soak: %s\n", error.c_str());
    emit("soak_domains_created", r.created, "domains");
    emit("soak_domains_destroyed", r.destroyed, "domains");
    emit("soak_create_destroy_per_s", r.create_destroy_per_s, "pairs/s");
    emit("soak_disk_rounds", r.disk_rounds, "rounds");
    emit("soak_store_writes", r.store_writes, "writes");
    emit("soak_domains_lost", r.lost, "domains");
    emit("soak_errors", double(r.errors.size()), "errors");
    emit("soak_leftover_monitors", r.leftover_monitors, "processes");
    emit("soak_domusd_rss_start_kib", double(r.domusd_start.rss_kib), "KiB");
    emit("soak_domusd_rss_end_kib", double(r.domusd_end.rss_kib), "KiB");
    emit("soak_domusd_fds_start", r.domusd_start.fds, "fds");
    emit("soak_domusd_fds_end", r.domusd_end.fds, "fds");
    emit("soak_store_rss_start_kib", double(r.store_start.rss_kib), "KiB");
    emit("soak_store_rss_end_kib", double(r.store_end.rss_kib), "KiB");
    emit("soak_store_fds_start", r.store_start.fds, "fds");
    emit("soak_store_fds_end", r.store_end.fds, "fds");
    emit("soak_store_nodes_start", double(r.nodes_start), "nodes");
    emit("soak_store_nodes_end", double(r.nodes_end), "nodes");
    emit("soak_seconds", r.seconds, "s");
    bench_parallel_churn(4, 400);
}

int main(int argc, char** argv) {
    if (argc > 1) domus::bench::figure_filter() = argv[1];
    bench_boot();
    bench_events();
    bench_timer();
    bench_compute();
    bench_toolstack();
    bench_block();
    bench_soak();
    bench_memory();
    domus::bench::bench_sched(g_bin, g_guests);
    // Last: each enters a network namespace of its own.
    domus::bench::bench_migrate(g_bin, g_guests);
    domus::bench::bench_net(g_bin, g_guests, DOMUS_SOURCE_DIR);
    return 0;
}
