// domusd: save, restore and migration (docs/migration.md). Save asks the guest to
// suspend (control/shutdown = "suspend", Xen's protocol), waits for its monitor to say
// it did, and has the monitor write the stream into a file or a transport's pipe (the fd
// passed with SCM_RIGHTS); the domain is destroyed only once the image is complete (a
// file renamed into place, a destination that said "ok"), otherwise it resumes where it
// was (a cancelled suspend). Restore checks the whole image first, then starts a monitor
// that builds the domain from it, paused, puts back what the guest wrote in the store
// (data/, control/feature-*) and unpauses it (not with -p).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>

#include "base/log.hpp"
#include "base/unix_socket.hpp"
#include "migration/stream_records.hpp"
#include "storage/image_lock.hpp"
#include "toolstack/daemon.hpp"
#include "toolstack/json_socket.hpp"
#include "toolstack/monitor_files.hpp"

extern char** environ;

namespace domus::toolstack {
namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t elapsed_ms(Clock::time_point since) {
    return std::uint64_t(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count());
}

// Every node below `home` + "/" + `relative` (depth-first), paths relative to home.
void collect(store::Client& store, const std::string& home, const std::string& relative,
             migration::KeyValues& out, int depth) {
    std::string path = relative.empty() ? home : home + "/" + relative;
    if (auto value = store.read(path); value && !relative.empty())
        out.emplace_back(relative, *value);
    if (depth > 16) return;
    auto children = store.directory(path);
    if (!children) return;
    for (const auto& child : *children)
        collect(store, home, relative.empty() ? child : relative + "/" + child, out, depth + 1);
}

// One request with `fd` passed alongside (SCM_RIGHTS).
Result<void> send_json_with_fd(int socket, const nlohmann::json& message, int fd) {
    int fds[] = {fd};
    return send_json(socket, message, fds);
}

// The transport (`sh -c COMMAND`): we write its stdin; its stdout and stderr come back.
struct Transport {
    pid_t pid = -1;
    Fd input;   // the stream goes here
    Fd output;  // what the other end says
};

Result<Transport> start_transport(const std::string& command) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) < 0) return errno_error("pipe");
    Fd in_read(in[0]), in_write(in[1]);
    if (::pipe2(out, O_CLOEXEC) < 0) return errno_error("pipe");
    Fd out_read(out[0]), out_write(out[1]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_read.get(), 0);
    posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
    posix_spawn_file_actions_adddup2(&actions, out_write.get(), 2);
    const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
    pid_t pid;
    int error =
        ::posix_spawn(&pid, "/bin/sh", &actions, nullptr, const_cast<char**>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (error != 0) return errno_error("spawning the transport: " + command, error);
    return Transport{pid, std::move(in_write), std::move(out_read)};
}

// Everything the transport says until it closes its output (or the time is up); each
// whole line goes to `on_line` as it comes.
std::string read_all(int fd, std::chrono::milliseconds limit,
                     const std::function<void(const std::string&)>& on_line = {}) {
    std::string text;
    std::size_t line_start = 0;
    auto deadline = Clock::now() + limit;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) break;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, int(left.count())) <= 0) break;
        char buffer[4096];
        ssize_t n = ::read(fd, buffer, sizeof(buffer));
        if (n <= 0) break;
        text.append(buffer, std::size_t(n));
        for (std::size_t end; on_line && (end = text.find('\n', line_start)) != std::string::npos;
             line_start = end + 1)
            on_line(text.substr(line_start, end - line_start));
    }
    return text;
}

std::string last_line(const std::string& text) {
    std::string line, last;
    for (char c : text) {
        if (c == '\n') {
            if (!line.empty()) last = line;
            line.clear();
        } else {
            line += c;
        }
    }
    return line.empty() ? last : line;
}

}  // namespace

Result<void> Daemon::suspend_guest(const Entry& entry, std::chrono::milliseconds limit) {
    std::string home = "/local/domain/" + std::to_string(entry.domid);
    auto feature = store_->read(home + "/control/feature-suspend");
    if (!feature || *feature != "1")
        return make_error(
            "domain {} cannot be suspended: its kernel does not offer it "
            "(control/feature-suspend)",
            entry.name);
    DOMUS_TRY(fd, connect_unix(run_dir_.control_socket(entry.domid)));
    DOMUS_TRY_VOID(send_json(fd.get(), {{"op", "watch"}}));
    std::string pending;
    // Watching before asking: a guest quicker than a busy monitor's control thread would
    // otherwise suspend before anyone listens for it.
    DOMUS_TRY(watching, receive_json(fd.get(), pending, std::chrono::seconds(10)));
    if (!watching.value("ok", false))
        return make_error("domain {}: its monitor refused to report the suspend", entry.name);
    DOMUS_TRY_VOID(store_->write(home + "/control/shutdown", "suspend"));
    auto deadline = Clock::now() + limit;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        auto message = left.count() > 0 ? receive_json(fd.get(), pending, left)
                                        : Result<nlohmann::json>(make_error("timeout"));
        if (!message) {
            (void)store_->write(home + "/control/shutdown", "");
            return make_error("domain {} did not suspend within {} ms", entry.name, limit.count());
        }
        std::string event = message->value("event", "");
        if (event == "suspended") return {};
        if (event == "exit") return make_error("domain {} ended instead of suspending", entry.name);
    }
}

Result<nlohmann::json> Daemon::stream_domain(const Entry& entry, int fd, const nlohmann::json& live,
                                             MigrationProgress::Operation& operation) {
    migration::KeyValues subtree;
    if (auto store = store::Client::connect(run_dir_.store_socket()))
        collect(*store, "/local/domain/" + std::to_string(entry.domid), "", subtree, 0);
    nlohmann::json nodes = nlohmann::json::object();
    for (auto& [key, value] : subtree)
        nodes[key] = value;
    DOMUS_TRY(control, connect_unix(run_dir_.control_socket(entry.domid)));
    nlohmann::json save = {
        {"op", "save"}, {"xl_config", to_xl_config(entry.spec)}, {"store", std::move(nodes)}};
    if (live.is_object()) save["live"] = live;
    DOMUS_TRY_VOID(send_json_with_fd(control.get(), save, fd));
    std::string pending;
    std::string home = "/local/domain/" + std::to_string(entry.domid);
    for (;;) {
        DOMUS_TRY(message, receive_json(control.get(), pending, std::chrono::minutes(10)));
        std::string event = message.value("event", "");
        if (event == "suspend-now") {  // live: the pre-copy is done, the last round is next
            DOMUS_TRY_VOID(store_->write(home + "/control/shutdown", "suspend"));
            continue;
        }
        if (event == "progress") {
            DOMUS_LOG_DEBUG("domusd", "domain {}: {}", entry.name, message.dump());
            operation.report(message);
            continue;
        }
        if (!event.empty()) continue;
        if (!message.value("ok", false))
            return make_error("saving domain {}: {}", entry.name,
                              message.value("error", std::string("failed")));
        return message;
    }
}

void Daemon::resume_after_failure(const Entry& entry) {
    // A request the guest did not act on must not linger for it to find later.
    (void)store_->write("/local/domain/" + std::to_string(entry.domid) + "/control/shutdown", "");
    auto resumed = json_request(run_dir_.control_socket(entry.domid), {{"op", "resume"}},
                                std::chrono::seconds(5));
    if (!resumed && resumed.error().message.find("not suspended") == std::string::npos)
        DOMUS_LOG_ERROR("domusd", "domain {}: could not resume after a failed save: {}", entry.name,
                        resumed.error().message);
}

Result<nlohmann::json> Daemon::save(const nlohmann::json& request, const ProgressSink& progress) {
    DOMUS_TRY(entry, find(request));
    auto operation = progress_.begin("save", entry->name, progress);
    std::string file = request.value("file", "");
    bool checkpoint = request.value("checkpoint", false);
    if (file.empty() || file[0] != '/') return make_error("save file must be an absolute path");
    std::lock_guard devices(entry->devices_mutex);  // no hot-plug or snapshot meanwhile
    std::string partial = file + ".partial";
    Fd out(::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!out) return errno_error("open " + partial);
    auto started = Clock::now();
    operation->phase("suspending");
    if (auto suspended = suspend_guest(*entry, std::chrono::seconds(30)); !suspended) {
        ::unlink(partial.c_str());
        return std::move(suspended).error();
    }
    std::uint64_t suspend_ms = elapsed_ms(started);
    auto saved = stream_domain(*entry, out.get(), nullptr, *operation);
    if (saved && ::fsync(out.get()) < 0) saved = errno_error("fsync " + partial);
    if (saved && ::rename(partial.c_str(), file.c_str()) < 0) saved = errno_error("rename " + file);
    if (!saved) {
        ::unlink(partial.c_str());
        resume_after_failure(*entry);
        return std::move(saved).error();
    }
    if (checkpoint)
        resume_after_failure(*entry);  // xl save -c: it goes on here too
    else if (!request.value("keep_paused", false))
        destroy(entry);  // -p: it stays, suspended (unpause lets it go on here)
    nlohmann::json reply = *saved;
    reply.erase("ok");
    reply["suspend_ms"] = suspend_ms;
    reply["total_ms"] = elapsed_ms(started);
    return reply;
}

Result<nlohmann::json> Daemon::restore(const nlohmann::json& request, const ProgressSink& progress,
                                       Fd stream) {
    auto operation = progress_.begin("restore", "", progress);
    if (stream) return restore_incoming(request, std::move(stream), *operation);
    std::string file = request.value("file", "");
    if (file.empty() || file[0] != '/') return make_error("restore file must be an absolute path");
    operation->phase("checking");
    auto started = Clock::now();
    // The whole image is checked before anything starts; its configuration and store
    // subtree come out on the way.
    Fd in(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) return errno_error("open " + file);
    std::string xl_text;
    migration::KeyValues subtree;
    migration::FdSource source(in.get());
    auto checked = migration::check_stream(source, true, [&](const migration::Record& record) {
        if (record.type == std::uint32_t(migration::RecordType::xl_config))
            xl_text.assign(record.body.begin(), record.body.end());
        if (record.type == std::uint32_t(migration::RecordType::store_subtree))
            if (auto pairs = migration::decode_key_values(record.body)) subtree = *pairs;
    });
    if (!checked) return make_error("{}: {}", file, checked.error().message);
    in.reset();
    std::string overrides;
    if (auto extra = request.find("overrides"); extra != request.end() && extra->is_array())
        for (const auto& line : *extra)
            overrides += line.get<std::string>() + "\n";
    DOMUS_TRY(parsed, parse_xl_config(xl_text + overrides, file));
    DOMUS_TRY_VOID(apply_disk_moves(parsed.spec, request));  // migrate --copy-disks
    operation->set_domain(parsed.spec.name);
    operation->report({{"phase", "loading"}, {"bytes", checked->bytes}, {"pages", checked->pages}});
    DOMUS_TRY(domid, create_from_spec(parsed.spec, parsed.spec.uuid, file));
    operation->phase("starting");
    DOMUS_TRY_VOID(start_restored(domid, subtree, request.value("paused", false)));
    return nlohmann::json{{"domid", domid},
                          {"name", parsed.spec.name},
                          {"pages", checked->pages},
                          {"bytes", checked->bytes},
                          {"total_ms", elapsed_ms(started)}};
}

// What the guest wrote goes back into its new home: its data and the features its kernel
// offers (written at boot, not again on resume). The rest is the toolstack's and the
// backends', made anew here. Then it runs, unless -p.
Result<void> Daemon::start_restored(std::uint16_t domid, const migration::KeyValues& subtree,
                                    bool paused) {
    std::string home = "/local/domain/" + std::to_string(domid);
    for (const auto& [key, value] : subtree)
        if (key.rfind("data/", 0) == 0 || key.rfind("control/feature-", 0) == 0)
            (void)store_->write(home + "/" + key, value);
    if (paused) return {};
    DOMUS_TRY(unpaused, json_request(run_dir_.control_socket(domid), {{"op", "unpause"}},
                                     std::chrono::seconds(5)));
    (void)unpaused;
    return {};
}

// A migration's destination: the domain is built from the configuration (devices, vif
// hotplug) while the source still copies, its monitor applies each round as it comes,
// and once the stream has ended (the source let go of the disks) it runs. Any failure
// tears the half-built domain down; the source then goes on.
Result<nlohmann::json> Daemon::restore_incoming(const nlohmann::json& request, Fd stream,
                                                MigrationProgress::Operation& operation) {
    auto started = Clock::now();
    DOMUS_TRY(parsed, parse_xl_config(request.value("config", ""), "<migration>"));
    DOMUS_TRY_VOID(apply_disk_moves(parsed.spec, request));  // migrate --copy-disks
    operation.set_domain(parsed.spec.name);
    operation.phase("building");
    DOMUS_TRY(domid, create_from_spec(parsed.spec, parsed.spec.uuid, {}, true));
    std::uint64_t built_ms = elapsed_ms(started);
    operation.phase("receiving");
    auto received = [&]() -> Result<nlohmann::json> {
        // Its disks open once the stream is in (the source lets go of them at its end):
        // their files and their backends' store connections come with the request, the
        // stream last.
        MonitorFiles files;
        for (const auto& text : parsed.spec.disk) {
            DOMUS_TRY(disk, config::parse_disk_spec(text));
            DOMUS_TRY_VOID(files.add_disk(disk));
            DOMUS_TRY_VOID(files.add_connection(run_dir_.store_socket()));
        }
        std::vector<int> fds = files.fds();
        fds.push_back(stream.get());
        DOMUS_TRY(control, connect_unix(run_dir_.control_socket(domid)));
        DOMUS_TRY_VOID(
            send_json(control.get(), {{"op", "receive"}, {"files", files.describe()}}, fds));
        stream.reset();  // the monitor reads it now
        std::string pending;
        DOMUS_TRY(reply, receive_json(control.get(), pending, std::chrono::hours(24)));
        if (!reply.value("ok", false))
            return make_error("{}",
                              storage::name_lock_holders(
                                  reply.value("error", std::string("the stream failed")), -1));
        auto stream_ended = Clock::now();
        operation.phase("starting");
        // Its weight, cap and pinning, now that its vCPU threads run (still paused).
        std::shared_ptr<Entry> entry;
        {
            std::lock_guard lock(mutex_);
            if (auto it = domains_.find(domid); it != domains_.end()) entry = it->second;
        }
        if (!entry) return make_error("domain {} is gone", domid);
        DOMUS_TRY_VOID(apply_sched(entry, true));
        migration::KeyValues subtree;
        if (auto store = reply.find("store"); store != reply.end() && store->is_object())
            for (auto& [key, value] : store->items())
                if (value.is_string()) subtree.emplace_back(key, value.get<std::string>());
        DOMUS_TRY_VOID(start_restored(domid, subtree, request.value("paused", false)));
        reply["start_ms"] = elapsed_ms(stream_ended);
        DOMUS_LOG_INFO("domusd", "domain {} received: {} bytes in {} ms, running {} ms later",
                       domid, reply.value("bytes", 0ull), reply.value("milliseconds", 0ull),
                       reply.value("start_ms", 0ull));
        return reply;
    }();
    if (!received) {
        std::shared_ptr<Entry> entry;
        {
            std::lock_guard lock(mutex_);
            if (auto it = domains_.find(domid); it != domains_.end()) entry = it->second;
        }
        if (entry) destroy(entry);
        return make_error("receiving domain {}: {}", parsed.spec.name, received.error().message);
    }
    return nlohmann::json{{"domid", domid},
                          {"name", parsed.spec.name},
                          {"bytes", received->value("bytes", 0ull)},
                          {"built_ms", built_ms},
                          {"receive_ms", received->value("milliseconds", 0ull)},
                          {"total_ms", elapsed_ms(started)}};
}

// Cold: the domain shuts down here (its disks at rest), its configuration goes over and
// the destination starts it afresh; if the destination fails, it starts here again.
Result<nlohmann::json> Daemon::migrate_cold(std::shared_ptr<Entry> entry,
                                            const std::string& command,
                                            MigrationProgress::Operation& operation) {
    auto started = Clock::now();
    operation.phase("shutting-down");
    DomainSpec spec = entry->spec;
    std::string uuid = entry->uuid;
    DOMUS_TRY(down,
              shutdown({{"domain", entry->name}, {"wait", true}, {"timeout", 60}}, "poweroff"));
    (void)down;
    if (entry->preserved) destroy(entry);  // on_poweroff = preserve: not kept when it moves
    std::uint64_t shutdown_ms = elapsed_ms(started);
    auto restart = [&](const std::string& why) -> Error {
        auto again = create_from_spec(spec, uuid);
        return make_error("cold migration of {} failed ({}); {}", spec.name, why,
                          again
                              ? "it was started here again"
                              : "and it could not be started here again: " + again.error().message);
    };
    operation.phase("sending");
    auto transport = start_transport(command);
    if (!transport) return restart(transport.error().message);
    std::string text = to_xl_config(spec);
    bool sent = ::write(transport->input.get(), text.data(), text.size()) == ssize_t(text.size());
    transport->input.reset();
    operation.phase("destination");
    std::string said = read_all(transport->output.get(), std::chrono::minutes(2));
    int status = 0;
    if (::waitpid(transport->pid, &status, WNOHANG) == 0) {
        ::kill(transport->pid, SIGKILL);
        ::waitpid(transport->pid, &status, 0);
    }
    if (!sent || said.find("migrate-receive: ok") == std::string::npos)
        return restart(last_line(said).empty() ? "no answer from the destination"
                                               : "the destination said: " + last_line(said));
    return nlohmann::json{{"mode", "cold"},
                          {"bytes", text.size()},
                          {"shutdown_ms", shutdown_ms},
                          {"downtime_ms", elapsed_ms(started)},
                          {"total_ms", elapsed_ms(started)}};
}

Result<nlohmann::json> Daemon::migrate(const nlohmann::json& request,
                                       const ProgressSink& progress) {
    DOMUS_TRY(entry, find(request));
    std::string command = request.value("command", "");
    if (command.empty()) return make_error("migrate needs a transport command");
    std::string mode = request.value("mode", "live");
    // --copy-disks: the disks go first, the domain suspended (docs/migration.md).
    bool copy_disks = request.value("copy_disks", false);
    if (copy_disks && mode == "cold") return make_error("--copy-disks does not go with --cold");
    auto operation = progress_.begin("migrate", entry->name, progress);
    if (mode == "cold") return migrate_cold(entry, command, *operation);
    if (copy_disks) mode = "warm";
    if (mode != "live" && mode != "warm") return make_error("unknown migration mode {}", mode);
    std::lock_guard devices(entry->devices_mutex);
    auto started = Clock::now();
    nlohmann::json live;  // null: warm
    std::uint64_t suspend_ms = 0;
    if (mode == "warm") {
        operation->phase("suspending");
        DOMUS_TRY_VOID(suspend_guest(*entry, std::chrono::seconds(30)));
        suspend_ms = elapsed_ms(started);
    } else {
        std::string home = "/local/domain/" + std::to_string(entry->domid);
        auto feature = store_->read(home + "/control/feature-suspend");
        if (!feature || *feature != "1")
            return make_error(
                "domain {} cannot be migrated live: its kernel does not offer "
                "suspend (control/feature-suspend)",
                entry->name);
        live = {{"max_rounds", request.value("max_rounds", 30)},
                {"max_downtime_ms", request.value("max_downtime_ms", 300)},
                {"rate_bytes_per_second", request.value("rate_bytes_per_second", 0ull)}};
    }
    auto transport = start_transport(command);
    if (!transport) {
        resume_after_failure(*entry);
        return std::move(transport).error();
    }
    Result<std::uint64_t> disks =
        copy_disks ? send_domain_disks(*entry, transport->input.get(), *operation)
                   : Result<std::uint64_t>(0);
    auto sent = disks ? stream_domain(*entry, transport->input.get(), live, *operation)
                      : Result<nlohmann::json>(std::move(disks).error());
    // Shared storage: the destination opens the images once the stream has ended.
    std::string control = run_dir_.control_socket(entry->domid);
    if (sent) (void)json_request(control, {{"op", "inactivate-disks"}}, std::chrono::seconds(5));
    transport->input.reset();  // the end of the stream for the other side
    std::uint64_t sent_ms = elapsed_ms(started);
    auto stream_end = Clock::now();
    if (sent) operation->phase("destination");
    // The destination answers once its domain runs (or why it does not), saying its
    // restore's phases on the way (cmd_migrate_receive.cpp).
    std::string said =
        read_all(transport->output.get(), std::chrono::minutes(2), [&](const std::string& line) {
            const std::string prefix = "migrate-receive: phase ";
            if (line.rfind(prefix, 0) == 0)
                operation->phase("destination-" + line.substr(prefix.size()));
        });
    auto answered = Clock::now();
    int status = 0;
    if (::waitpid(transport->pid, &status, WNOHANG) == 0) {
        ::kill(transport->pid, SIGKILL);
        ::waitpid(transport->pid, &status, 0);
    }
    bool accepted = said.find("migrate-receive: ok") != std::string::npos;
    if (!sent || !accepted) {
        if (sent) {
            auto active =
                json_request(control, {{"op", "activate-disks"}}, std::chrono::seconds(5));
            if (!active)
                DOMUS_LOG_ERROR("domusd", "domain {}: its disks: {}", entry->name,
                                active.error().message);
        }
        resume_after_failure(*entry);
        std::string why = !sent ? sent.error().message : "";
        std::string other = last_line(said);
        if (why.empty() || !other.empty())
            why = other.empty() ? fmt::format("the transport ended (status {}) without an answer",
                                              WIFEXITED(status) ? WEXITSTATUS(status) : -1)
                                : "the destination said: " + other;
        return make_error("migration of {} failed, it runs on here: {}", entry->name, why);
    }
    // Warm: suspended from the start. Live: from the suspend (the monitor's last round)
    // until the destination said its copy runs (not the teardown here, which follows).
    auto ms = [](Clock::duration d) {
        return std::chrono::duration<double, std::milli>(d).count();
    };
    double downtime_ms = mode == "warm" ? ms(answered - started)
                                        : sent->value("final_ms", 0.0) + ms(answered - stream_end);
    destroy(entry);
    nlohmann::json reply = *sent;
    reply.erase("ok");
    reply["suspend_ms"] = suspend_ms;
    reply["downtime_ms"] = downtime_ms;
    reply["mode"] = mode;
    if (copy_disks) reply["disk_bytes"] = *disks;
    reply["sent_ms"] = sent_ms;
    reply["total_ms"] = elapsed_ms(started);
    return reply;
}

}  // namespace domus::toolstack
