// domusd: domain lifecycle. Creation writes the standard store nodes, starts the
// monitor and waits for its readiness report; a watcher thread per domain turns the
// monitor's exit event into the configured on_* action.
#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <poll.h>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "base/durable_file.hpp"
#include "base/log.hpp"
#include "base/unix_socket.hpp"
#include "config/channel_spec.hpp"
#include "config/device_specs.hpp"
#include "config/disk_spec.hpp"
#include "config/vif_spec.hpp"
#include "toolstack/daemon.hpp"
#include "toolstack/json_socket.hpp"
#include "toolstack/spawn.hpp"
#include "toolstack/vcpu_availability.hpp"
#include "toolstack/vif_hotplug.hpp"

namespace domus::toolstack {
namespace {

std::string new_uuid() {
    // getrandom, not a std::random_device per call: its set-up probes the CPU (`cpuid`
    // exits on a nested host) and opens a device, for each domain.
    std::uint8_t bytes[16] = {};
    for (std::size_t got = 0; got < sizeof bytes;) {
        ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
        if (n > 0) {
            got += std::size_t(n);
        } else if (errno != EINTR) {  // not expected on any kernel Domus runs on
            std::random_device random;
            for (; got < sizeof bytes; ++got)
                bytes[got] = std::uint8_t(random());
        }
    }
    bytes[6] = (bytes[6] & 0x0F) | 0x40;  // version 4
    bytes[8] = (bytes[8] & 0x3F) | 0x80;  // RFC 4122 variant
    return fmt::format(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:"
        "02x}{:02x}",
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8],
        bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
}

// The last non-empty line of a monitor's log: its reason for failing.
std::string last_log_line(const std::string& path) {
    std::ifstream in(path);
    std::string line, last;
    while (std::getline(in, line))
        if (!line.empty()) last = line;
    return last;
}

Action action_for(const DomainSpec& spec, const std::string& kind) {
    if (kind == "poweroff") return spec.on_poweroff;
    if (kind == "reboot") return spec.on_reboot;
    if (kind == "crash") return spec.on_crash;
    if (kind == "watchdog") return spec.on_watchdog;
    return Action::Destroy;  // destroyed, killed, or a monitor error
}

}  // namespace

Result<nlohmann::json> Daemon::create(const nlohmann::json& request) {
    std::string text = request.value("config", "");
    std::string file = request.value("file", "<config>");
    DOMUS_TRY(parsed, parse_xl_config(text, file));
    DOMUS_TRY(domid, create_from_spec(parsed.spec, parsed.spec.uuid));
    nlohmann::json warnings = parsed.warnings;
    return nlohmann::json{{"domid", domid}, {"name", parsed.spec.name}, {"warnings", warnings}};
}

Result<std::uint16_t> Daemon::create_from_spec(const DomainSpec& spec,
                                               std::optional<std::string> uuid,
                                               const std::string& restore_file, bool incoming) {
    if (spec.kernel.empty() || spec.kernel[0] != '/')
        return make_error("kernel path must be absolute for the daemon: {}", spec.kernel);
    for (const auto& disk : spec.disk) {
        DOMUS_TRY(parsed, config::parse_disk_spec(disk));
        if (parsed.target.empty() || parsed.target[0] != '/')
            return make_error("disk target must be absolute for the daemon: {}", parsed.target);
    }
    DOMUS_TRY(channels, config::parse_channel_specs(spec.channel));
    for (const auto& channel : channels)
        if (channel.path.front() != '/')
            return make_error("channel {}: path must be absolute for the daemon: {}", channel.name,
                              channel.path);
    DOMUS_TRY(vif_specs, config::parse_vif_specs(spec.vif));
    auto entry = std::make_shared<Entry>();
    entry->spec = spec;
    entry->name = spec.name;
    entry->uuid = uuid.value_or(new_uuid());
    entry->created_unix = double(std::time(nullptr));
    {
        std::lock_guard lock(mutex_);
        for (auto& [id, other] : domains_)
            if (other->name == spec.name)
                return make_error("a domain named \"{}\" already exists (domain {})", spec.name,
                                  id);
        DOMUS_TRY_VOID(check_budget_locked(spec.memory_mib * 1024, 0));
        // IDs count up and wrap; one in use is never handed out.
        for (int tries = 0; tries < 0x7FEF; ++tries) {
            std::uint16_t candidate = next_domid_;
            next_domid_ = next_domid_ >= 0x7FEF ? 1 : std::uint16_t(next_domid_ + 1);
            if (!domains_.count(candidate)) {
                entry->domid = candidate;
                break;
            }
        }
        if (!entry->domid) return make_error("no free domain ID");
        domains_[entry->domid] = entry;
    }
    auto fail = [&](Error error) -> Result<std::uint16_t> {
        remove_store_nodes(*entry);
        std::filesystem::remove_all(run_dir_.domain_dir(entry->domid));
        std::lock_guard lock(mutex_);
        domains_.erase(entry->domid);
        return error;
    };
    // Each vif's MAC is settled now and kept in the recorded configuration, so a restart
    // (on_reboot) gives the guest the same address, as libxl does.
    entry->spec.vif.clear();
    for (auto& vif : vif_specs) {
        vif.mac = config::vif_config(vif, entry->domid).mac;
        entry->spec.vif.push_back(config::to_vif_spec(vif));
    }
    if (auto written = write_store_nodes(*entry); !written) return fail(std::move(written).error());
    ::mkdir(run_dir_.domain_dir(entry->domid).c_str(), 0700);

    std::vector<std::string> argv = {executable_dir() + "/domus-vmm",
                                     spec.kernel,
                                     "--name",
                                     spec.name,
                                     "--domid",
                                     std::to_string(entry->domid),
                                     "-m",
                                     std::to_string(spec.memory_mib),
                                     "--maxmem",
                                     std::to_string(std::max(spec.maxmem_mib, spec.memory_mib)),
                                     "--vcpus",  // every slot; the store says which are online
                                     std::to_string(spec.maxvcpus),
                                     "--cmdline",
                                     spec.cmdline,
                                     "--control-socket",
                                     run_dir_.control_socket(entry->domid),
                                     "--run-dir",
                                     run_dir_.root,
                                     "--store",
                                     "--no-host-paths",  // its requests bring their files
                                     "--ready-fd",
                                     "3"};
    if (monitor_user_base_ != 0) {
        argv.push_back("--user");  // its own, once built (docs/sandbox.md)
        argv.push_back(std::to_string(monitor_user_base_ + entry->domid));
    }
    if (!restore_file.empty()) {
        argv.push_back("--restore");
        argv.push_back(restore_file);
        argv.push_back("--restore-checked");  // daemon_migrate.cpp checked it whole
    }
    if (incoming) argv.push_back("--incoming");
    for (const auto& disk : spec.disk) {
        argv.push_back("--disk");
        argv.push_back(disk);
    }
    for (const auto& channel : spec.channel) {
        argv.push_back("--channel");
        argv.push_back(channel);
    }
    for (const auto& vif : entry->spec.vif) {
        argv.push_back("--vif");
        argv.push_back(vif);
    }
    // A warm monitor if the pool has one (monitor_pool.hpp), otherwise a new process.
    // Its report: "ready ..." once its control socket listens, "error: ..." or nothing
    // (the pipe's end) if it died trying.
    struct Started {
        pid_t pid = 0;
        std::string report;
        bool unheard_warm = false;  // a warm monitor that ended as it was handed the domain
    };
    auto start_monitor = [&](bool warm_allowed) -> Result<Started> {
        int ready[2];
        if (::pipe2(ready, O_CLOEXEC) < 0) return errno_error("pipe");
        Fd ready_read(ready[0]), ready_write(ready[1]);
        std::optional<pid_t> warm;
        if (warm_allowed)
            warm = monitor_pool_->start(argv, run_dir_.vmm_log(entry->domid), ready_write.get());
        Result<pid_t> pid =
            warm ? Result<pid_t>(*warm)
                 : spawn_detached(argv, run_dir_.vmm_log(entry->domid), ready_write.get());
        ready_write.reset();
        if (!pid) return std::move(pid).error();
        std::string report;
        pollfd p{ready_read.get(), POLLIN, 0};
        while (::poll(&p, 1, 10'000) > 0) {
            char buffer[256];
            ssize_t n = ::read(ready_read.get(), buffer, sizeof(buffer));
            if (n <= 0) break;
            report.append(buffer, std::size_t(n));
        }
        // A warm monitor that died as it was handed the domain (killed meanwhile: the
        // message and the pipe went with it) said nothing: the start goes again, cold.
        if (warm && report.empty()) {
            DOMUS_LOG_WARN("domusd", "domain {}: warm monitor {} ended unheard; starting one new",
                           entry->domid, *warm);
            ::kill(*warm, SIGKILL);
            (void)wait_for_exit(*warm, std::chrono::seconds(2));
            return Started{*warm, "", true};
        }
        return Started{*pid, std::move(report)};
    };
    auto started = start_monitor(true);
    if (started && started->unheard_warm) started = start_monitor(false);
    if (!started) return fail(std::move(started).error());
    std::string report = std::move(started->report);
    entry->pid = started->pid;
    if (report.rfind("ready", 0) != 0) {
        ::kill(entry->pid, SIGKILL);
        std::string reason = last_log_line(run_dir_.vmm_log(entry->domid));
        return fail(make_error("domain {} failed to start: {}", spec.name,
                               reason.empty() ? "no report" : reason));
    }
    // Where the console and store rings are, as Xen's toolstack publishes them (the
    // monitor chose them): ~/console/{ring-ref,port,...} and the deprecated ~/store/*.
    // "ready <its info reply>" (vmm_main.cpp): no round trip to ask for it.
    Result<nlohmann::json> info = make_error("no info with the report");
    if (auto reported = nlohmann::json::parse(report.substr(5), nullptr, false);
        reported.is_object() && reported.contains("console"))
        info = std::move(reported);
    else
        info = json_request(run_dir_.control_socket(entry->domid), {{"op", "info"}},
                            std::chrono::seconds(5));
    if (info) {
        std::string home = "/local/domain/" + std::to_string(entry->domid);
        auto number = [](const nlohmann::json& value) {
            return std::to_string(value.get<std::uint64_t>());
        };
        store::Batch batch;
        batch.write(home + "/console/ring-ref", number((*info)["console"]["ring_ref"]));
        batch.write(home + "/console/port", number((*info)["console"]["port"]));
        batch.write(home + "/console/limit", "1048576");
        batch.write(home + "/console/type", "xenconsoled");
        batch.write(home + "/store/ring-ref", number((*info)["store"]["ring_ref"]));
        batch.write(home + "/store/port", number((*info)["store"]["port"]));
        (void)store_->send(batch);
    }
    // The host side of each vif (its TAP exists now): its hotplug script, `online`.
    for (const auto& vif : vif_configs(*entry)) {
        if (auto online = vif_online(vif, entry->domid, run_dir_.root); !online) {
            ::kill(entry->pid, SIGKILL);
            wait_for_exit(entry->pid, std::chrono::seconds(5));
            for (const auto& other : vif_configs(*entry))
                vif_offline(other, entry->domid, run_dir_.root);
            return fail(make_error("domain {}: {}", spec.name, online.error().message));
        }
    }
    // Its weight, cap and pinning (daemon_sched.cpp), before anyone can see it. An
    // incoming domain's vCPU threads start once its stream is in: restore_incoming.
    if (auto scheduled = incoming
                             ? Result<void>()
                             : apply_sched(entry, true, info ? *info : nlohmann::json::object());
        !scheduled) {
        ::kill(entry->pid, SIGKILL);
        (void)wait_for_exit(entry->pid, std::chrono::seconds(2));
        remove_sched(entry->domid, entry->cgroup);
        for (const auto& vif : vif_configs(*entry))
            vif_offline(vif, entry->domid, run_dir_.root);
        return fail(make_error("domain {}: {}", spec.name, scheduled.error().message));
    }
    {
        std::lock_guard lock(mutex_);
        entry->creating = false;
    }
    save_record(*entry);
    std::thread([this, entry] { watch(entry); }).detach();
    DOMUS_LOG_INFO("domusd", "created domain {} ({}), monitor pid {}", entry->domid, entry->name,
                   entry->pid);
    return entry->domid;
}

Result<void> Daemon::write_store_nodes(const Entry& entry) {
    // As libxl does: the home is dom0's and readable by the guest; the nodes the guest
    // must write (control/*, and as libxl's rw paths data, drivers, feature, attr: a
    // guest agent publishes its addresses in attr/vif) are the guest's own. One batch:
    // one round trip to the store instead of ~30 on every create.
    std::string home = "/local/domain/" + std::to_string(entry.domid);
    std::string self = std::to_string(entry.domid);
    std::string vm = "/vm/" + entry.uuid;
    store::Batch batch;
    batch.mkdir(home);
    batch.set_perms(home, {"n0", "r" + self});
    batch.write(home + "/name", entry.name);
    batch.write(home + "/domid", self);
    batch.write(home + "/vm", vm);
    batch.write(home + "/memory/static-max", std::to_string(entry.spec.maxmem_mib * 1024));
    batch.write(home + "/memory/target", std::to_string(entry.spec.memory_mib * 1024));
    for (const char* node :
         {"control/shutdown", "control/feature-poweroff", "control/feature-reboot",
          "control/feature-suspend", "control/sysrq", "data", "drivers", "feature", "attr"}) {
        batch.write(home + "/" + node, "");
        batch.set_perms(home + "/" + node, {"n" + self});
    }
    // cpu/<n>/availability for every slot, readable by the guest (the home's permissions).
    for (std::uint32_t vcpu = 0; vcpu < entry.spec.maxvcpus; ++vcpu)
        batch.write(availability_node(entry.domid, vcpu),
                    availability_value(vcpu, entry.spec.vcpus));
    batch.write(vm + "/name", entry.name);
    batch.write(vm + "/uuid", entry.uuid);
    batch.write(vm + "/start_time", fmt::format("{:.2f}", entry.created_unix));
    return store_->send(batch);
}

void Daemon::remove_store_nodes(const Entry& entry) {
    store::Batch batch;
    batch.remove("/local/domain/" + std::to_string(entry.domid));
    batch.remove("/vm/" + entry.uuid);
    // The backends' directories for this domain, as libxl removes them: each device
    // removes its own, and the domain's directory under each type stays behind.
    for (const char* type : {"vbd", "console", "vif"})
        batch.remove(fmt::format("/local/domain/0/backend/{}/{}", type, entry.domid));
    (void)store_->send(batch);
}

void Daemon::save_record(const Entry& entry) {
    nlohmann::json record = {{"domid", entry.domid},
                             {"name", entry.name},
                             {"uuid", entry.uuid},
                             {"pid", entry.pid},
                             {"created_unix", entry.created_unix},
                             {"config", to_xl_config(entry.spec)},
                             {"preserved", entry.preserved}};
    std::string path = run_dir_.record(entry.domid);
    // A record describes a running monitor, which a host crash ends too: atomic against
    // domusd's own death is all it needs.
    if (auto saved = replace_file_atomically(path, record.dump(2) + "\n"); !saved)
        DOMUS_LOG_ERROR("domusd", "domain {}: {}", entry.domid, saved.error().message);
}

void Daemon::watch(std::shared_ptr<Entry> entry) {
    std::string kind;
    auto fd = connect_unix(run_dir_.control_socket(entry->domid));
    if (fd && send_json(fd->get(), {{"op", "watch"}})) {
        std::string pending;
        for (;;) {
            auto message = receive_json(fd->get(), pending, std::chrono::hours(24 * 365));
            if (!message) break;
            if (message->value("event", "") == "exit") {
                kind = message->value("kind", "crash");
                break;
            }
        }
    }
    if (kind.empty()) {
        // The monitor died without reporting an exit (killed, or by its sandbox for a
        // forbidden call): the domain died with it, a crash. Its log's last line says
        // why when the monitor could still say so; it goes into the daemon's log,
        // which outlives the domain's directory.
        kind = "crash";
        bool destroyed;
        {
            std::lock_guard lock(mutex_);
            destroyed = entry->gone;
        }
        if (!destroyed)
            DOMUS_LOG_ERROR("domusd", "domain {} ({}): its monitor (pid {}) died; its log ends: {}",
                            entry->domid, entry->name, entry->pid,
                            last_log_line(run_dir_.vmm_log(entry->domid)));
    }
    domain_ended(entry, kind);
}

void Daemon::domain_ended(std::shared_ptr<Entry> entry, const std::string& kind) {
    {
        std::lock_guard lock(mutex_);
        if (entry->gone) return;  // destroyed on request: nothing to apply
    }
    Action action = action_for(entry->spec, kind);
    DOMUS_LOG_INFO("domusd", "domain {} ({}) ended: {}; action {}", entry->domid, entry->name, kind,
                   action_name(action));
    {
        std::lock_guard lock(mutex_);
        entry->exit_kind = kind;
    }
    changed_.notify_all();
    switch (action) {
        case Action::Preserve: {
            {
                std::lock_guard lock(mutex_);
                entry->preserved = true;
            }
            changed_.notify_all();
            save_record(*entry);
            return;
        }
        case Action::Restart:
        case Action::RenameRestart:
        case Action::CoredumpRestart:
        case Action::SoftReset: {
            destroy(entry);
            auto again = create_from_spec(entry->spec, entry->uuid);
            if (!again)
                DOMUS_LOG_ERROR("domusd", "restart of {} failed: {}", entry->name,
                                again.error().message);
            return;
        }
        case Action::Destroy:
        case Action::CoredumpDestroy:
            destroy(entry);
            return;  // core dumps are not written yet
    }
}

void Daemon::destroy(std::shared_ptr<Entry> entry) {
    {
        // `destroy` and the watcher's exit event may both get here: clean up once.
        std::lock_guard lock(mutex_);
        if (entry->gone) return;
        entry->gone = true;
    }
    (void)json_request(run_dir_.control_socket(entry->domid), {{"op", "destroy"}},
                       std::chrono::seconds(5));
    // The monitor exits on "destroy"; make sure, even if it hangs.
    if (entry->pid > 0 && !wait_for_exit(entry->pid, std::chrono::seconds(1))) {
        ::kill(entry->pid, SIGKILL);
        (void)wait_for_exit(entry->pid, std::chrono::seconds(1));
    }
    forget(*entry);
}

std::vector<config::VifConfig> Daemon::vif_configs(const Entry& entry) const {
    std::vector<config::VifConfig> out;
    auto specs = config::parse_vif_specs(entry.spec.vif);  // checked at create
    if (specs)
        for (const auto& spec : *specs)
            out.push_back(config::vif_config(spec, entry.domid));
    return out;
}

void Daemon::forget(const Entry& entry) {
    remove_sched(entry.domid, entry.cgroup);
    for (const auto& vif : vif_configs(entry))
        vif_offline(vif, entry.domid, run_dir_.root);  // what the TAP's removal leaves
    remove_store_nodes(entry);
    // Its channels' sockets: a monitor under domusd removes no file (docs/sandbox.md).
    for (const auto& text : entry.spec.channel)
        if (auto channel = config::parse_channel_spec(text); channel)
            (void)remove_stale_socket(channel->path);
    std::filesystem::remove_all(run_dir_.domain_dir(entry.domid));
    {
        std::lock_guard lock(mutex_);
        auto it = domains_.find(entry.domid);
        if (it != domains_.end() && it->second.get() == &entry) domains_.erase(it);
    }
    changed_.notify_all();
}

void Daemon::recover() {
    std::error_code error;
    for (const auto& dir : std::filesystem::directory_iterator(run_dir_.domains(), error)) {
        std::ifstream in(dir.path() / "record.json");
        auto record = nlohmann::json::parse(in, nullptr, false);
        if (record.is_discarded() || !record.is_object()) {
            std::filesystem::remove_all(dir.path(), error);
            continue;
        }
        auto entry = std::make_shared<Entry>();
        entry->domid = record.value("domid", 0);
        entry->name = record.value("name", "");
        entry->uuid = record.value("uuid", "");
        entry->pid = record.value("pid", 0);
        entry->created_unix = record.value("created_unix", 0.0);
        entry->preserved = record.value("preserved", false);
        entry->creating = false;
        auto parsed = parse_xl_config(record.value("config", ""), "record");
        auto info = json_request(run_dir_.control_socket(entry->domid), {{"op", "info"}},
                                 std::chrono::seconds(2));
        if (!parsed || !info || entry->domid == 0) {
            DOMUS_LOG_WARN("domusd", "domain {} is gone; cleaning up", entry->domid);
            remove_sched(entry->domid, std::nullopt);
            remove_store_nodes(*entry);
            std::filesystem::remove_all(dir.path(), error);
            continue;
        }
        entry->spec = parsed->spec;
        {
            std::lock_guard lock(mutex_);
            domains_[entry->domid] = entry;
            next_domid_ = std::max<std::uint16_t>(next_domid_, std::uint16_t(entry->domid + 1));
        }
        DOMUS_LOG_INFO("domusd", "recovered domain {} ({})", entry->domid, entry->name);
        recover_snapshot(*entry);
        if (auto scheduled = apply_sched(entry, false); !scheduled)
            DOMUS_LOG_WARN("domusd", "domain {}: weight, cap, pinning: {}", entry->domid,
                           scheduled.error().message);
        if (!entry->preserved) std::thread([this, entry] { watch(entry); }).detach();
    }
}

}  // namespace domus::toolstack
