// bench/run mem: ballooning. How fast a guest gives memory back (MiB/s of reservation),
// how long from `mem-set` until the host holds less (the monitor's memfd blocks), and
// density: the host cost of a 64 MiB domain at 64 MiB vs ballooned to 16 MiB, measured
// on a few real domains and extrapolated to the host memory domusd gives to domains.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "../tests/integration/process.hpp"
#include "figures.hpp"
#include "soak/soak.hpp"
#include "store/client.hpp"
#include "toolstack/json_socket.hpp"
#include "toolstack/run_dir.hpp"

namespace {

using domus::bench::emit;
using domus::test::run_process;
using Clock = std::chrono::steady_clock;

struct MemoryBench {
    domus::toolstack::RunDir dir;
    std::string bin, guests;
    std::unique_ptr<domus::store::Client> store;

    bool start() {
        ::setenv("DOMUS_RUN_DIR", dir.root.c_str(), 1);
        // The density run measures, not refuses: domusd may overcommit.
        std::filesystem::create_directories(dir.root);
        std::ofstream(dir.root + "/domusd.conf") << "memory-overcommit = true\n";
        ::setenv("DOMUS_DAEMON_CONFIG", (dir.root + "/domusd.conf").c_str(), 1);
        auto started = run_process({bin, "info"}, std::chrono::seconds(30));
        if (started.status != 0) return false;
        auto client = domus::store::Client::connect(dir.store_socket());
        if (!client) return false;
        store = std::make_unique<domus::store::Client>(std::move(*client));
        return true;
    }

    std::string read(const std::string& path) {
        auto value = store->read(path);
        return value ? *value : std::string();
    }

    int create(const std::string& name, int memory, int maxmem) {
        std::string config = "name = \"" + name + "\"\nkernel = \"" + guests +
                             "/balloon_test.elf\"\nmemory = " + std::to_string(memory) +
                             "\nmaxmem = " + std::to_string(maxmem) + "\n";
        auto reply = domus::toolstack::json_request(
            dir.daemon_socket(), {{"op", "create"}, {"config", config}, {"file", name}});
        if (!reply) {
            std::fprintf(stderr, "bench: create %s: %s\n", name.c_str(),
                         reply.error().message.c_str());
            return -1;
        }
        int domid = (*reply)["domid"].get<int>();
        std::string status = fmt::format("/local/domain/{}/data/balloon/status", domid);
        if (!until([&] { return read(status) == "ready"; }, 30)) return -1;
        return domid;
    }

    template <class F>
    static bool until(F done, double seconds) {
        auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
        while (Clock::now() < deadline) {
            if (done()) return true;
            std::this_thread::sleep_for(std::chrono::microseconds(500));
        }
        return done();
    }

    // Runs a balloon_test command and waits for its answer.
    bool command(int domid, const std::string& cmd) {
        static int seq = 0;
        std::string home = fmt::format("/local/domain/{}/data/balloon/", domid);
        std::string tag = " #" + std::to_string(++seq);
        (void)store->write(home + "seq", std::to_string(seq));
        (void)store->write(home + "cmd", cmd);
        return until(
            [&] {
                std::string r = read(home + "result");
                return r.size() >= tag.size() && r.ends_with(tag);
            },
            60);
    }

    std::uint64_t memory_kib(int domid) {
        auto info = domus::toolstack::json_request(dir.control_socket(domid), {{"op", "info"}},
                                                   std::chrono::seconds(2));
        return info ? (*info).value("memory_kib", std::uint64_t(0)) : 0;
    }

    pid_t monitor_pid(int domid) {
        auto info = domus::toolstack::json_request(dir.control_socket(domid), {{"op", "info"}},
                                                   std::chrono::seconds(2));
        return info ? (*info)["pid"].get<pid_t>() : 0;
    }

    // Guest RAM the host holds (the memfd's blocks) and the monitor's own anonymous memory.
    static double ram_mib(pid_t pid) {
        long long bytes = domus::test::guest_ram_bytes(pid);
        return bytes < 0 ? 0 : double(bytes) / (1 << 20);
    }
    static double anon_mib(pid_t pid) {
        std::string status = domus::test::proc_text(pid, "status");
        auto at = status.find("RssAnon:");
        return at == std::string::npos ? 0 : std::stod(status.substr(at + 8)) / 1024;
    }

    void mem_set(const std::string& name, int mib) {
        (void)domus::toolstack::json_request(
            dir.daemon_socket(),
            {{"op", "mem-set"}, {"domain", name}, {"kib", std::uint64_t(mib) * 1024}});
    }
};

void speed(MemoryBench& b) {
    constexpr int kBig = 512, kSmall = 64;
    int domid = b.create("speed", kBig, kBig);
    if (domid < 0) return;
    pid_t pid = b.monitor_pid(domid);
    b.command(domid, "pressure");  // the guest touched all its RAM: the host holds it
    double before = MemoryBench::ram_mib(pid);
    auto t0 = Clock::now();
    b.mem_set("speed", kSmall);
    // The host's first drop (a first run given back), the host at the target (all of it)
    // and the guest's reservation at the target, polled every 0.5 ms.
    double first_s = -1, host_s = -1, guest_s = -1;
    MemoryBench::until(
        [&] {
            double now = std::chrono::duration<double>(Clock::now() - t0).count();
            double ram = MemoryBench::ram_mib(pid);
            if (first_s < 0 && ram < before - 1) first_s = now;
            if (host_s < 0 && ram <= kSmall + 1) host_s = now;
            if (guest_s < 0 && b.memory_kib(domid) <= std::uint64_t(kSmall) * 1024) guest_s = now;
            return first_s >= 0 && host_s >= 0 && guest_s >= 0;
        },
        30);
    double after = MemoryBench::ram_mib(pid);
    if (guest_s > 0) emit("mem_balloon_inflate_mib_s", (kBig - kSmall) / guest_s, "MiB/s");
    if (first_s >= 0) emit("mem_set_to_host_drop_ms", first_s * 1000, "ms");
    if (host_s >= 0) emit("mem_set_to_host_at_target_ms", host_s * 1000, "ms");
    emit("mem_host_freed_mib", before - after, "MiB");
    auto t1 = Clock::now();
    b.mem_set("speed", kBig);
    if (MemoryBench::until([&] { return b.memory_kib(domid) >= std::uint64_t(kBig) * 1024; }, 30))
        emit("mem_balloon_deflate_mib_s",
             (kBig - kSmall) / std::chrono::duration<double>(Clock::now() - t1).count(), "MiB/s");
}

void density(MemoryBench& b) {
    constexpr int kDomains = 6;
    std::vector<int> domids;
    for (int i = 0; i < kDomains; ++i) {
        int domid = b.create("dense" + std::to_string(i), 64, 64);
        if (domid < 0) return;
        domids.push_back(domid);
    }
    // Each guest used its memory once (a worst case for an idle guest at 64 MiB).
    for (int domid : domids)
        b.command(domid, "pressure");
    auto cost = [&] {
        double total = 0;
        for (int domid : domids) {
            pid_t pid = b.monitor_pid(domid);
            total += MemoryBench::ram_mib(pid) + MemoryBench::anon_mib(pid);
        }
        return total / kDomains;
    };
    double full = cost();
    for (int i = 0; i < kDomains; ++i)
        b.mem_set("dense" + std::to_string(i), 16);
    for (int domid : domids)
        MemoryBench::until([&] { return b.memory_kib(domid) <= 16 * 1024; }, 30);
    double small = cost();
    auto info = domus::toolstack::json_request(b.dir.daemon_socket(), {{"op", "info"}},
                                               std::chrono::seconds(10));
    double budget = info ? (*info)["domain_memory_mib"].get<double>() : 0;
    emit("mem_density_measured_domains", kDomains, "domains");
    emit("mem_host_cost_64mib_domain_mib", full, "MiB");
    emit("mem_host_cost_16mib_domain_mib", small, "MiB");
    if (full > 0) emit("mem_density_64mib_domains", budget / full, "domains");
    if (small > 0) emit("mem_density_ballooned_16mib_domains", budget / small, "domains");
}

}  // namespace

void bench_memory() {
    if (!domus::bench::group_wanted("mem")) return;
    MemoryBench b{domus::toolstack::RunDir{"/tmp/domus-bench-mem-" + std::to_string(::getpid())},
                  DOMUS_BIN, DOMUS_GUEST_DIR, nullptr};
    if (b.start()) {
        speed(b);
        density(b);
    } else {
        std::fprintf(stderr, "bench: mem: domusd did not start\n");
    }
    ::unsetenv("DOMUS_DAEMON_CONFIG");
    b.store.reset();
    domus::soak::stop(b.dir.root);
    std::filesystem::remove_all(b.dir.root);
}
