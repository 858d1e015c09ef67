// bench/run migrate: a 256 MiB guest moved between two run directories (two "hosts" on
// this machine, one network namespace and bridge of the benchmark's own).
//   migrate_idle_downtime_ms        the toolstack's count: suspend to running there
//   migrate_idle_downtime_probe_ms  an outside client's: the longest gap between answers
//                                   to UDP echoes sent every millisecond (the echo guest)
//   migrate_idle_total_ms, migrate_idle_rounds
//   migrate_busy_*                  the same with the guest dirtying 50 MiB/s (save_counter;
//                                   no network there: the toolstack's count only)
//   migrate_save_mib_s, _save_ms    an idle 256 MiB guest to a file
//   migrate_restore_to_running_ms, migrate_restore_mib_s
#include "migrate_bench.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "../tests/integration/process.hpp"
#include "figures.hpp"
#include "soak/soak.hpp"

namespace domus::bench {
namespace {

using test::ProcessResult;
using test::run_process;
using namespace std::chrono_literals;

class Host {
public:
    Host(std::string bin, std::string dir) : bin_(std::move(bin)), dir_(std::move(dir)) {
        std::filesystem::create_directories(dir_);
    }
    ~Host() {
        soak::stop(dir_);
        std::filesystem::remove_all(dir_);
    }
    ProcessResult domus(std::vector<std::string> args, std::chrono::milliseconds limit = 120s) {
        args.insert(args.begin(), {"/usr/bin/env", "DOMUS_RUN_DIR=" + dir_, bin_});
        return run_process(args, limit);
    }
    std::string config(const std::string& name, const std::string& body) {
        std::string path = dir_ + "/" + name + ".cfg";
        std::ofstream(path) << "name = \"" << name << "\"\n" << body;
        return path;
    }
    std::string receiver() const {
        return "env DOMUS_RUN_DIR=" + dir_ + " " + bin_ + " migrate-receive";
    }
    const std::string& dir() const { return dir_; }

private:
    std::string bin_, dir_;
};

// The last JSON line of `domus migrate --json`.
nlohmann::json last_event(const std::string& out) {
    std::istringstream lines(out);
    std::string line, last;
    while (std::getline(lines, line))
        if (!line.empty() && line[0] == '{') last = line;
    auto j = nlohmann::json::parse(last, nullptr, false);
    return j.is_discarded() ? nlohmann::json::object() : j;
}

// Sends a UDP datagram to addr:7 every millisecond while `running`; the longest gap
// between two answers, in ms.
double longest_silence(const char* addr, const std::atomic<bool>& running) {
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(7);
    ::inet_pton(AF_INET, addr, &to.sin_addr);
    ::connect(s, reinterpret_cast<sockaddr*>(&to), sizeof to);
    using Clock = std::chrono::steady_clock;
    auto last_answer = Clock::now();
    double longest = 0;
    auto next = Clock::now();
    while (running.load()) {
        if (Clock::now() >= next) {
            (void)::send(s, "probe", 5, 0);
            next += 1ms;
        }
        pollfd ready{s, POLLIN, 0};
        if (::poll(&ready, 1, 1) == 1) {
            char buf[64];
            while (::recv(s, buf, sizeof buf, 0) > 0) {
                auto now = Clock::now();
                longest = std::max(
                    longest, std::chrono::duration<double, std::milli>(now - last_answer).count());
                last_answer = now;
            }
        }
    }
    ::close(s);
    return longest;
}

bool wait_console(Host& host, const std::string& name, const std::string& text) {
    for (int i = 0; i < 60; ++i)
        if (host.domus({"console", name}, 500ms).out.find(text) != std::string::npos) return true;
    return false;
}

void migrate_idle(Host& a, Host& b, const std::string& guests) {
    if (!wanted("migrate_idle")) return;
    std::string cfg = a.config("echo", "kernel = \"" + guests +
                                           "/echo.elf\"\nmemory = 256\n"
                                           "vif = [ 'bridge=xenbr0,ip=10.77.0.2/24' ]\n");
    if (a.domus({"create", cfg}).status != 0 || !wait_console(a, "echo", "echo: ready")) {
        std::fprintf(stderr, "bench: migrate: the echo guest did not start\n");
        return;
    }
    std::atomic<bool> probing{true};
    double silence = 0;
    std::thread probe([&] { silence = longest_silence("10.77.0.2", probing); });
    std::this_thread::sleep_for(500ms);
    auto moved = a.domus({"migrate", "--json", "-s", "", "echo", b.receiver()});
    std::this_thread::sleep_for(500ms);
    probing = false;
    probe.join();
    auto done = last_event(moved.out);
    if (moved.status != 0 || !done.contains("downtime_ms")) {
        std::fprintf(stderr, "bench: migrate: %s%s", moved.out.c_str(), moved.err.c_str());
        return;
    }
    emit("migrate_idle_downtime_ms", done["downtime_ms"].get<double>(), "ms");
    emit("migrate_idle_downtime_probe_ms", silence, "ms");
    emit("migrate_idle_total_ms", done["total_ms"].get<double>(), "ms");
    emit("migrate_idle_rounds", done.value("rounds", 0), "rounds");
    b.domus({"destroy", "echo"});
}

void migrate_busy(Host& a, Host& b, const std::string& guests) {
    if (!wanted("migrate_busy")) return;
    std::string cfg = a.config("busy", "kernel = \"" + guests +
                                           "/save_counter.elf\"\nmemory = 256\n"
                                           "extra = \"dirty_mb=50\"\n");
    if (a.domus({"create", cfg}).status != 0) return;
    std::this_thread::sleep_for(2s);  // its dirtying under way
    auto moved = a.domus({"migrate", "--json", "-s", "", "busy", b.receiver()});
    auto done = last_event(moved.out);
    if (moved.status != 0 || !done.contains("downtime_ms")) {
        std::fprintf(stderr, "bench: migrate busy: %s%s", moved.out.c_str(), moved.err.c_str());
        return;
    }
    emit("migrate_busy_downtime_ms", done["downtime_ms"].get<double>(), "ms");
    emit("migrate_busy_total_ms", done["total_ms"].get<double>(), "ms");
    emit("migrate_busy_rounds", done.value("rounds", 0), "rounds");
    b.domus({"destroy", "busy"});
}

void save_restore(Host& a, const std::string& guests) {
    if (!wanted("migrate_save") && !wanted("migrate_restore")) return;
    std::string cfg = a.config("idle256", "kernel = \"" + guests + "/idle.elf\"\nmemory = 256\n");
    if (a.domus({"create", cfg}).status != 0) return;
    std::this_thread::sleep_for(500ms);
    std::string file = a.dir() + "/idle256.save";
    auto saved = a.domus({"save", "idle256", file});
    std::smatch m;
    std::regex save_line(R"(Saved \S+: ([\d.]+) MiB .* in (\d+) ms \(([\d.]+) MiB/s\))");
    if (saved.status != 0 || !std::regex_search(saved.out, m, save_line)) {
        std::fprintf(stderr, "bench: save: %s%s", saved.out.c_str(), saved.err.c_str());
        return;
    }
    double mib = std::stod(m[1]);
    emit("migrate_save_ms", std::stod(m[2]), "ms");
    emit("migrate_save_mib_s", std::stod(m[3]), "MiB/s");
    auto restored = a.domus({"restore", file});
    std::regex restore_line(R"(in (\d+) ms)");
    if (restored.status == 0 && std::regex_search(restored.out, m, restore_line)) {
        double ms = std::stod(m[1]);
        emit("migrate_restore_to_running_ms", ms, "ms");
        if (ms > 0) emit("migrate_restore_mib_s", mib / ms * 1000, "MiB/s");
    }
    a.domus({"destroy", "idle256"});
}

}  // namespace

void bench_migrate(const std::string& bin, const std::string& guests) {
    if (!group_wanted("migrate")) return;
    if (::unshare(CLONE_NEWNET) != 0) {
        std::fprintf(stderr, "bench: migrate: no network namespace\n");
        return;
    }
    for (auto args :
         std::vector<std::vector<std::string>>{{"link", "set", "lo", "up"},
                                               {"link", "add", "xenbr0", "type", "bridge"},
                                               {"addr", "add", "10.77.0.1/24", "dev", "xenbr0"},
                                               {"link", "set", "xenbr0", "up"}}) {
        args.insert(args.begin(), "/usr/sbin/ip");
        run_process(args, 10s);
    }
    std::string base = "/tmp/domus-bench-migrate-" + std::to_string(::getpid());
    Host a(bin, base + "-a"), b(bin, base + "-b");
    // Both "hosts" share the namespace: a domain there first, so that arrivals get
    // another domain ID (and TAP name) than they had here.
    b.domus(
        {"create", b.config("placeholder", "kernel = \"" + guests + "/idle.elf\"\nmemory = 16\n")});
    migrate_idle(a, b, guests);
    migrate_busy(a, b, guests);
    save_restore(a, guests);
}

}  // namespace domus::bench
