// domusd: start-up, the CLI protocol and the read-only queries.
#include "toolstack/daemon.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <thread>

#include "base/log.hpp"
#include "base/unix_socket.hpp"
#include "toolstack/json_socket.hpp"
#include "toolstack/spawn.hpp"

#include <domus/abi/version.h>

namespace domus::toolstack {
namespace {

double unix_now() {
    return double(std::time(nullptr));
}

bool all_digits(const std::string& text) {
    return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
}

// Accepts clients on `listener` until `stop_fd` is readable. The thread that accepts a
// client serves it, after handing the accepting to a new thread: a request is handled
// at once, not once a new thread first gets a CPU (on a busy host a new thread waits
// milliseconds behind the others), and the next acceptor starts meanwhile.
void accept_clients(std::shared_ptr<Fd> listener, int stop_fd,
                    std::function<void(Fd)> serve_client) {
    for (;;) {
        pollfd fds[2] = {{listener->get(), POLLIN, 0}, {stop_fd, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents) return;
        if (!(fds[0].revents & POLLIN)) continue;
        Fd client(::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!client) continue;
        std::thread(accept_clients, listener, stop_fd, serve_client).detach();
        serve_client(std::move(client));
        return;
    }
}

}  // namespace

Daemon::Daemon(RunDir run_dir, Fd lock, store::Client store)
    : run_dir_(std::move(run_dir)),
      lock_(std::move(lock)),
      store_(std::make_unique<store::Client>(std::move(store))) {
    started_unix_ = unix_now();
}

namespace {

// Starts domus-xenstored and waits (up to 3 s) for its report that both sockets accept.
Result<void> start_store(const RunDir& run_dir) {
    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) < 0) return errno_error("pipe");
    Fd ready_read(ready[0]), ready_write(ready[1]);
    std::string binary = executable_dir() + "/domus-xenstored";
    DOMUS_TRY(pid, spawn_detached({binary, "--run-dir", run_dir.root, "--ready-fd", "3"},
                                  run_dir.root + "/xenstored.log", ready_write.get()));
    (void)pid;
    ready_write.reset();  // the store's copy is the only writer now: EOF if it dies
    pollfd p{ready_read.get(), POLLIN, 0};
    char byte;
    if (::poll(&p, 1, 3000) != 1 || ::read(ready_read.get(), &byte, 1) != 1)
        return make_error("the store daemon did not start (see {}/xenstored.log)", run_dir.root);
    return {};
}

// The daemon before us (its pid is in the lock file) may still be exiting: the run
// directory's lock goes with the first of its files to close, the others (a disk lock
// held mid-snapshot, say) a moment later. Recovery waits until it is wholly gone.
void wait_for_predecessor(int lock_fd) {
    char text[32] = {};
    if (::pread(lock_fd, text, sizeof text - 1, 0) <= 0) return;
    pid_t pid = pid_t(std::atoi(text));
    if (pid <= 0 || pid == ::getpid()) return;
    char comm_path[64];
    std::snprintf(comm_path, sizeof comm_path, "/proc/%d/comm", int(pid));
    char comm[32] = {};
    if (Fd comm_fd(::open(comm_path, O_RDONLY | O_CLOEXEC)); comm_fd) [[maybe_unused]]
        auto n = ::read(comm_fd.get(), comm, sizeof comm - 1);
    if (std::strncmp(comm, "domusd", 6) != 0) return;  // gone, or its pid reused
    if (!wait_for_exit(pid, std::chrono::seconds(10)))
        DOMUS_LOG_WARN("domusd", "the previous domusd (pid {}) is still exiting", pid);
}

}  // namespace

Result<std::unique_ptr<Daemon>> Daemon::start(RunDir run_dir, DaemonOptions options) {
    ::mkdir(run_dir.root.c_str(), 0700);
    ::mkdir(run_dir.domains().c_str(), 0700);
    Fd lock(::open(run_dir.daemon_lock().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock) return errno_error(run_dir.daemon_lock());
    if (::flock(lock.get(), LOCK_EX | LOCK_NB) < 0)
        return make_error("another domusd is already running for {}", run_dir.root);
    wait_for_predecessor(lock.get());
    std::string pid = std::to_string(::getpid()) + "\n";
    [[maybe_unused]] auto t = ::ftruncate(lock.get(), 0);
    [[maybe_unused]] auto w = ::write(lock.get(), pid.data(), pid.size());

    auto store = store::Client::connect(run_dir.store_socket());
    if (!store) {
        DOMUS_TRY_VOID(start_store(run_dir));
        store = store::Client::connect(run_dir.store_socket());
        if (!store) return std::move(store).error();
    }
    std::unique_ptr<Daemon> daemon(
        new Daemon(std::move(run_dir), std::move(lock), std::move(store).value()));
    // The store's fds are kept here from now on, and the store restarted if it dies.
    if (auto keeper = StoreKeeper::start(daemon->run_dir_); keeper)
        daemon->store_keeper_ = std::move(keeper).value();
    else
        DOMUS_LOG_WARN("domusd", "no fd keeper for the store: {}", keeper.error().message);
    // Domain 0 as xl shows it.
    (void)daemon->store_->write("/local/domain/0/name", "Domain-0");
    (void)daemon->store_->write("/local/domain/0/domid", "0");
    daemon->cgroup_parent_ = std::move(options.cgroup_parent);
    daemon->budget_ = options.memory;
    daemon->monitor_user_base_ = options.monitor_user_base;
    daemon->cgroup_mount_ = detect_cpu_cgroup_mount();
    daemon->monitor_pool_ = std::make_unique<MonitorPool>(
        executable_dir() + "/domus-vmm", daemon->run_dir_.root,
        daemon->run_dir_.root + "/monitor-pool.log", options.monitor_pool);
    daemon->recover();
    daemon->remove_stale_cgroups();
    return daemon;
}

void Daemon::serve(int stop_fd) {
    std::string path = run_dir_.daemon_socket();
    auto listening = listen_unix(path, SOCK_STREAM);  // we hold the run directory's lock
    if (!listening) {
        DOMUS_LOG_ERROR("domusd", "cannot listen on {}: {}", path, listening.error().message);
        return;
    }
    auto listener = std::make_shared<Fd>(std::move(listening).value());
    DOMUS_LOG_INFO("domusd", "listening on {}", path);
    std::thread(accept_clients, listener, stop_fd, [this](Fd fd) {
        client_thread(std::move(fd));
    }).detach();
    pollfd stop{stop_fd, POLLIN, 0};
    while (::poll(&stop, 1, -1) < 0 && errno == EINTR) {
    }
    ::unlink(path.c_str());
}

void Daemon::client_thread(Fd fd) {
    std::string pending;
    for (;;) {
        std::vector<Fd> passed;  // a migration's incoming stream (migrate-receive)
        auto request = receive_json(fd.get(), pending, std::chrono::hours(24), &passed);
        if (!request) return;
        ProgressSink progress;  // opt-in: other requests and old clients get the reply only
        if (auto asked = request->find("progress"); asked != request->end() && *asked == true)
            progress = [&fd](const nlohmann::json& event) { (void)send_json(fd.get(), event); };
        Fd stream = passed.empty() ? Fd() : std::move(passed.back());
        if (!send_json(fd.get(), handle(*request, progress, std::move(stream)))) return;
    }
}

nlohmann::json Daemon::handle(const nlohmann::json& request, const ProgressSink& progress,
                              Fd stream) {
    std::string op = request.value("op", "");
    Result<nlohmann::json> reply = make_error("unknown request \"{}\"", op);
    try {
        if (op == "create")
            reply = create(request);
        else if (op == "list")
            reply = list();
        else if (op == "stats")
            reply = nlohmann::json(collect_stats());
        else if (op == "info")
            reply = info();
        else if (op == "pause" || op == "unpause" || op == "destroy")
            reply = simple_op(request);
        else if (op == "shutdown")
            reply = shutdown(request, "poweroff");
        else if (op == "reboot")
            reply = shutdown(request, "reboot");
        else if (op == "block-attach")
            reply = block_attach(request);
        else if (op == "block-detach")
            reply = block_detach(request);
        else if (op == "block-list")
            reply = block_list(request);
        else if (op == "network-attach")
            reply = network_attach(request);
        else if (op == "network-detach")
            reply = network_detach(request);
        else if (op == "network-list")
            reply = network_list(request);
        else if (op == "vif-rate")
            reply = vif_rate(request);
        else if (op == "block-rate")
            reply = block_rate(request);
        else if (op == "vcpu-set")
            reply = vcpu_set(request);
        else if (op == "snapshot-create")
            reply = snapshot_create(request);
        else if (op == "snapshot-list")
            reply = snapshot_list(request);
        else if (op == "snapshot-revert")
            reply = snapshot_revert(request);
        else if (op == "snapshot-delete")
            reply = snapshot_delete(request);
        else if (op == "mem-set")
            reply = mem_set(request);
        else if (op == "mem-max")
            reply = mem_max(request);
        else if (op == "sched-credit")
            reply = sched_credit(request);
        else if (op == "vcpu-pin")
            reply = vcpu_pin(request);
        else if (op == "vcpu-list")
            reply = vcpu_list(request);
        else if (op == "save")
            reply = save(request, progress);
        else if (op == "restore")
            reply = restore(request, progress, std::move(stream));
        else if (op == "migrate")
            reply = migrate(request, progress);
        else if (op == "domid" || op == "domname" || op == "console") {
            auto entry = find(request);
            if (!entry) {
                reply = std::move(entry).error();
            } else {
                reply = nlohmann::json{{"ok", true},
                                       {"domid", (*entry)->domid},
                                       {"name", (*entry)->name},
                                       {"control", run_dir_.control_socket((*entry)->domid)}};
            }
        }
    } catch (const std::exception& error) {  // a malformed request (wrong JSON types)
        reply = make_error("bad request: {}", error.what());
    }
    requests_.fetch_add(1, std::memory_order_relaxed);
    if (!reply) {
        request_errors_.fetch_add(1, std::memory_order_relaxed);
        return {{"ok", false}, {"error", reply.error().message}};
    }
    nlohmann::json out = std::move(reply).value();
    out["ok"] = true;
    return out;
}

Result<std::shared_ptr<Daemon::Entry>> Daemon::find(const nlohmann::json& request) {
    std::string key = request.value("domain", "");
    if (key.empty()) return make_error("no domain given");
    std::lock_guard lock(mutex_);
    for (auto& [domid, entry] : domains_) {
        if (entry->creating) continue;
        if ((all_digits(key) && std::to_string(domid) == key) || entry->name == key) return entry;
    }
    return make_error("no domain \"{}\"", key);
}

namespace {

nlohmann::json pool_json(const MonitorPool::Counts& counts) {
    return {
        {"size", counts.size}, {"warm", counts.warm},     {"handed", counts.handed},
        {"cold", counts.cold}, {"forked", counts.forked}, {"execd", counts.execd},
    };
}

}  // namespace

Result<nlohmann::json> Daemon::info() {
    char host[256] = {};
    ::gethostname(host, sizeof(host) - 1);
    struct sysinfo system {};
    ::sysinfo(&system);
    std::size_t count;
    {
        std::lock_guard lock(mutex_);
        count = domains_.size();
    }
    return nlohmann::json{
        {"host", host},
        {"version", "domus 0.1.0"},
        {"abi_version",
         std::to_string(DOMUS_ABI_VERSION_MAJOR) + "." + std::to_string(DOMUS_ABI_VERSION_MINOR)},
        {"nr_cpus", std::thread::hardware_concurrency()},
        {"total_memory_mib", (system.totalram * system.mem_unit) >> 20},
        {"free_memory_mib", (system.freeram * system.mem_unit) >> 20},
        {"free_memory", free_memory_mib()},  // xl's: MiB left for domains
        {"domain_memory_mib", budget_.domains_mib},
        {"memory_overcommit", budget_.allow_overcommit},
        {"run_dir", run_dir_.root},
        {"store_socket", run_dir_.store_socket()},
        {"domains", count},
        {"daemon_uptime_seconds", unix_now() - started_unix_},
        {"metrics", metrics_address_.empty() ? "" : "http://" + metrics_address_ + "/metrics"},
        {"operations", progress_.running()},  // saves, restores, migrations running now
        {"monitor_pool",
         pool_json(monitor_pool_->counts())}};  // saves, restores, migrations running now
}

Result<nlohmann::json> Daemon::simple_op(const nlohmann::json& request) {
    DOMUS_TRY(entry, find(request));
    std::string op = request["op"];
    if (op == "destroy") {
        destroy(entry);
        return nlohmann::json::object();
    }
    DOMUS_TRY_VOID(
        json_request(run_dir_.control_socket(entry->domid), {{"op", op}}, std::chrono::seconds(5)));
    return nlohmann::json::object();
}

Result<nlohmann::json> Daemon::shutdown(const nlohmann::json& request, const char* how) {
    DOMUS_TRY(entry, find(request));
    std::string node = "/local/domain/" + std::to_string(entry->domid) + "/control/shutdown";
    DOMUS_TRY_VOID(store_->write(node, how));
    if (!request.value("wait", false)) return nlohmann::json::object();
    // -w: until this domain is gone (a reboot with on_reboot=restart comes back under
    // a new ID, as in xl).
    std::unique_lock lock(mutex_);
    bool gone = changed_.wait_for(lock, std::chrono::seconds(request.value("timeout", 60)), [&] {
        auto it = domains_.find(entry->domid);
        return it == domains_.end() || it->second != entry || entry->preserved;
    });
    if (!gone) return make_error("domain {} did not shut down in time", entry->name);
    return nlohmann::json::object();
}

}  // namespace domus::toolstack
