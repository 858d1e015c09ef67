// The churn soak's driver: one loop of requests to domusd over its socket (as `domus`
// sends them), store traffic over the store's tool socket, the daemons found and measured
// through /proc by their exact --run-dir argument.
#include "soak/soak.hpp"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "process.hpp"
#include "store/client.hpp"
#include "toolstack/cgroup.hpp"
#include "toolstack/json_socket.hpp"
#include "toolstack/run_dir.hpp"
#include "toolstack/spawn.hpp"

namespace domus::soak {
namespace {

using Clock = std::chrono::steady_clock;

// Processes named `name` among those started for `run_dir` (by name, not by argv[0]: a
// monitor's VM-teardown child shares its command line but not its name).
std::vector<pid_t> processes(const std::string& name, const std::string& run_dir) {
    std::vector<pid_t> found;
    for (pid_t pid : test::run_dir_processes(run_dir))
        if (test::process_name(pid) == name) found.push_back(pid);
    return found;
}

std::optional<pid_t> only(const std::string& name, const std::string& run_dir) {
    auto found = processes(name, run_dir);
    if (found.size() != 1) return std::nullopt;
    return found[0];
}

Usage usage(pid_t pid) {
    Usage u;
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("VmRSS:", 0) == 0) u.rss_kib = std::stol(line.substr(6));
    if (DIR* fds = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
        while (dirent* entry = ::readdir(fds))
            if (entry->d_name[0] != '.') ++u.fds;
        ::closedir(fds);
    }
    return u;
}

void list_nodes(store::Client& store, const std::string& path, std::set<std::string>& out) {
    out.insert(path);
    auto children = store.directory(path);
    if (!children) return;
    for (const auto& child : *children)
        list_nodes(store, path == "/" ? "/" + child : path + "/" + child, out);
}

class Soak {
public:
    explicit Soak(const Options& options) : options_(options), dir_{options.run_dir} {}

    Report run() {
        auto t0 = Clock::now();
        if (!start_daemon()) return report_;
        // The baseline: daemons up, one domain created, given a disk and destroyed
        // (first-use allocations, and the store's per-type backend directories, which
        // stay as in Xen), nothing alive.
        if (auto domid = create(); domid) {
            disk_round(*domid);
            destroy(*domid);
        }
        measure(report_.domusd_start, report_.store_start, nodes_start_);
        report_.nodes_start = long(nodes_start_.size());
        report_.created = report_.destroyed = report_.disk_rounds = 0;

        std::mt19937 rng(42);
        std::uint64_t iteration = 0;
        int failures = 0;  // creations failed in a row
        while (report_.created < options_.domains) {
            ++iteration;
            if (options_.kill_daemons && !report_.domusd_restarted &&
                report_.created >= options_.domains / 3)
                kill_domusd();
            if (options_.kill_daemons && !report_.store_restarted &&
                report_.created >= 2 * options_.domains / 3)
                kill_store();
            bool grow = alive_.size() < std::size_t(options_.max_alive) &&
                        (alive_.size() < 2 || rng() % 3 != 0);
            if (grow) {
                if (auto domid = create()) {
                    failures = 0;
                    if (options_.disk_every > 0 && report_.created % options_.disk_every == 0)
                        disk_round(*domid);
                } else if (++failures == 10) {
                    error("ten creations in a row failed: giving up");
                    break;
                }
            } else {
                auto it = alive_.begin();
                std::advance(it, rng() % alive_.size());
                destroy(*it);
            }
            store_traffic(iteration);
        }
        // Every domain still alive answers, then goes.
        check_alive();
        while (!alive_.empty())
            destroy(*alive_.begin());
        report_.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        report_.create_destroy_per_s = double(report_.destroyed) / report_.seconds;
        // The monitors are gone once destroy answered; the store may still be dropping
        // their connections: give it the time of one round trip through domusd.
        (void)request({{"op", "list"}});
        if (auto* client = store()) (void)client->remove("/soak");  // our own traffic's
        std::set<std::string> nodes_end;
        measure(report_.domusd_end, report_.store_end, nodes_end);
        report_.nodes_end = long(nodes_end.size());
        for (const auto& node : nodes_end)
            if (!nodes_start_.count(node)) error("store node left behind: " + node);
        report_.leftover_monitors = int(processes("domus-vmm", dir_.root).size());
        return report_;
    }

private:
    void error(std::string text) { report_.errors.push_back(std::move(text)); }

    bool start_daemon() {
        auto r = test::run_process({options_.domus, "info"}, std::chrono::seconds(30));
        if (r.status != 0) {
            error("domus info failed: " + r.err);
            return false;
        }
        return true;
    }

    std::optional<nlohmann::json> request(const nlohmann::json& message) {
        auto reply =
            toolstack::json_request(dir_.daemon_socket(), message, std::chrono::seconds(30));
        if (!reply) {
            error(fmt::format("{}: {}", message.value("op", "?"), reply.error().message));
            return std::nullopt;
        }
        if (reply->contains("error")) {
            error(fmt::format("{}: {}", message.value("op", "?"), (*reply)["error"].dump()));
            return std::nullopt;
        }
        return *reply;
    }

    std::optional<int> create() {
        std::string name = "soak" + std::to_string(next_name_++);
        std::string config =
            "name = \"" + name + "\"\nkernel = \"" + options_.guest + "\"\nmemory = 16\n";
        auto reply = request({{"op", "create"}, {"config", config}, {"file", "soak"}});
        if (!reply || !reply->contains("domid")) return std::nullopt;
        int domid = (*reply)["domid"].get<int>();
        alive_.insert(domid);
        ++report_.created;
        return domid;
    }

    void destroy(int domid) {
        alive_.erase(domid);
        if (request({{"op", "destroy"}, {"domain", std::to_string(domid)}})) ++report_.destroyed;
    }

    void disk_round(int domid) {
        std::string disk = dir_.root + "/soak-disk.raw";
        if (::access(disk.c_str(), F_OK) != 0) {
            std::ofstream(disk).close();
            ::truncate(disk.c_str(), 1 << 20);
        }
        if (!request({{"op", "block-attach"},
                      {"domain", std::to_string(domid)},
                      {"disk", "format=raw, vdev=xvdb, access=rw, target=" + disk}}))
            return;
        if (request({{"op", "block-detach"},
                     {"domain", std::to_string(domid)},
                     {"vdev", "xvdb"},
                     {"force", true}}))
            ++report_.disk_rounds;
    }

    store::Client* store() {
        if (!store_) {
            auto connected = store::Client::connect(dir_.store_socket());
            if (!connected) return nullptr;
            store_ = std::make_unique<store::Client>(std::move(connected).value());
        }
        return store_.get();
    }

    void store_traffic(std::uint64_t iteration) {
        auto* client = store();
        if (!client) return;
        std::string node = "/soak/n" + std::to_string(iteration % 64);
        if (client->write(node, std::to_string(iteration))) ++report_.store_writes;
        if (iteration % 64 == 63) (void)client->remove("/soak");
    }

    void check_alive() {
        auto* client = store();
        if (!client) {
            report_.lost += int(alive_.size());
            error("no store connection to check the domains");
            return;
        }
        for (int domid : alive_)
            (void)client->write(fmt::format("/local/domain/{}/data/ping", domid),
                                "p" + std::to_string(domid));
        std::set<int> waiting(alive_.begin(), alive_.end());
        auto deadline = Clock::now() + std::chrono::seconds(30);
        while (!waiting.empty() && Clock::now() < deadline) {
            for (auto it = waiting.begin(); it != waiting.end();) {
                auto pong = client->read(fmt::format("/local/domain/{}/data/pong", *it));
                it = pong && *pong == "p" + std::to_string(*it) ? waiting.erase(it) : std::next(it);
            }
            if (!waiting.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        for (int domid : waiting)
            error(fmt::format("domain {} did not answer its ping", domid));
        report_.lost += int(waiting.size());
    }

    void measure(Usage& domusd, Usage& xenstored, std::set<std::string>& nodes) {
        if (auto pid = only("domusd", dir_.root)) domusd = usage(*pid);
        if (auto pid = only("domus-xenstored", dir_.root)) xenstored = usage(*pid);
        if (auto* client = store()) list_nodes(*client, "/", nodes);
    }

    void kill_domusd() {
        report_.domusd_restarted = true;
        auto pid = only("domusd", dir_.root);
        if (!pid) return error("domusd not found");
        ::kill(*pid, SIGKILL);
        (void)toolstack::wait_for_exit(*pid, std::chrono::seconds(1));
        if (!start_daemon()) error("domusd did not come back");  // the next CLI call starts it
    }

    void kill_store() {
        report_.store_restarted = true;
        auto pid = only("domus-xenstored", dir_.root);
        if (!pid) return error("the store not found");
        ::kill(*pid, SIGKILL);
        // domusd restarts it; the connections it kept (ours included) carry on.
        auto deadline = Clock::now() + std::chrono::seconds(10);
        while (Clock::now() < deadline) {
            auto again = only("domus-xenstored", dir_.root);
            if (again && *again != *pid && store::Client::connect(dir_.store_socket())) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        error("the store did not come back within 10 s");
    }

    Options options_;
    toolstack::RunDir dir_;
    Report report_;
    std::set<int> alive_;
    int next_name_ = 0;
    std::unique_ptr<store::Client> store_;
    std::set<std::string> nodes_start_;
};

}  // namespace

Report run(const Options& options) {
    return Soak(options).run();
}

void stop(const std::string& run_dir) {
    for (const char* name : {"domusd", "domus-xenstored", "domus-vmm"}) {
        auto pids = processes(name, run_dir);
        for (pid_t pid : pids)
            ::kill(pid, SIGKILL);
        for (pid_t pid : pids)
            (void)toolstack::wait_for_exit(pid, std::chrono::seconds(2));
    }
    // The domains' CPU cgroups, which the killed domusd could not remove.
    if (auto mount = toolstack::detect_cpu_cgroup_mount()) {
        std::string parent = toolstack::default_cgroup_parent(run_dir);
        if (std::filesystem::exists(mount->root + "/" + parent))
            (void)toolstack::remove_cgroup_parent(*mount, parent);
    }
}

}  // namespace domus::soak
