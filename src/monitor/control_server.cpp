// ControlServer implementation: a poll loop over the listening socket and clients.
#include "monitor/control_server.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/host_files.hpp"
#include "base/log.hpp"
#include "base/unix_socket.hpp"
#include "monitor/device_requests.hpp"
#include "monitor/domain.hpp"
#include "monitor/domain_save.hpp"
#include "monitor/guest_clock.hpp"
#include "storage/image_lock.hpp"

namespace domus::monitor {
namespace {

constexpr std::size_t kMaxLine = 4096;  // requests are tiny; a longer line is garbage

double process_cpu_seconds() {
    timespec ts;
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

}  // namespace

Result<std::unique_ptr<ControlServer>> ControlServer::listen(const std::string& path,
                                                             Domain& domain,
                                                             DomainIdentity identity,
                                                             bool incoming) {
    std::unique_ptr<ControlServer> server(new ControlServer(path, domain, std::move(identity)));
    server->incoming_ = incoming;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof(address.sun_path))
        return make_error("control socket path too long: {}", path);
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    server->listener_ = Fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!server->listener_) return errno_error("socket");
    ::unlink(path.c_str());
    if (::bind(server->listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) < 0)
        return errno_error(fmt::format("bind {}", path));
    ::chmod(path.c_str(), 0600);
    if (::listen(server->listener_.get(), 16) < 0) return errno_error("listen");
    server->wake_ = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    server->started_ns_ = host_monotonic_ns();
    domain.set_suspend_listener([s = server.get()] { s->notify_suspended(); });
    server->thread_ = std::thread([s = server.get()] { s->thread_main(); });
    return server;
}

ControlServer::~ControlServer() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof(one));
    if (thread_.joinable()) thread_.join();
    for (auto& worker : workers_)
        worker.join();
    ::unlink(path_.c_str());
}

void ControlServer::domain_exited(const DomainExit& exit) {
    std::lock_guard lock(mutex_);
    exit_ = exit;
    notify_exit_locked();
    // The console has said everything (the domain drained it before returning): end
    // attached consoles, so `domus console` returns.
    for (auto& client : clients_) {
        if (!client->console || !client->fd) continue;
        domain_->console().set_output(-1, false);
        ::shutdown(client->fd.get(), SHUT_RDWR);
    }
}

void ControlServer::notify_exit_locked() {
    if (!exit_) return;
    nlohmann::json event = {{"event", "exit"},
                            {"kind", exit_kind_name(exit_->kind)},
                            {"code", exit_->code},
                            {"detail", exit_->detail}};
    for (auto& client : clients_)
        if (client->watching) send(*client, event.dump());
}

void ControlServer::wait_for_destroy() {
    std::unique_lock lock(mutex_);
    destroy_cv_.wait(lock, [&] { return destroy_; });
}

void ControlServer::stop_waiting() {
    std::lock_guard lock(mutex_);
    destroy_ = true;
    destroy_cv_.notify_all();
}

std::string ControlServer::info() {
    std::lock_guard lock(mutex_);
    return info_json();
}

std::string ControlServer::info_json() {
    // Caller holds mutex_.
    std::string state = "r";
    if (exit_)
        state = exit_->kind == ExitKind::crash ? "c" : "s";
    else if (domain_->paused())
        state = "p";
    else if (domain_->all_blocked())
        state = "b";
    // Every vCPU slot (0..maxvcpus-1): whether the guest has it up, and its host thread.
    nlohmann::json vcpu_list = nlohmann::json::array();
    unsigned online = 0;
    for (std::uint32_t i = 0; i < domain_->nr_vcpus(); ++i) {
        VcpuRunner* vcpu = domain_->vcpu(i);
        bool up = vcpu->is_up();
        online += up ? 1 : 0;
        vcpu_list.push_back({{"vcpu", i}, {"online", up}, {"tid", vcpu->host_tid()}});
    }
    DomainStats counters = domain_->stats();
    nlohmann::json info = {
        {"ok", true},
        {"domid", identity_.domid},
        {"name", identity_.name},
        {"state", state},
        {"suspended", domain_->suspended()},
        {"memory_mib", identity_.memory_mib},
        {"vcpus", online},
        {"vcpu_list", std::move(vcpu_list)},
        {"cpu_seconds", process_cpu_seconds()},
        // Exits are the currency of a nested host (DESIGN.md): what the guest has spent.
        {"exits", counters.exits},
        {"hypercalls", counters.hypercalls},
        {"doorbells", counters.doorbells},
        {"upcalls", counters.upcalls},
        {"blocks", counters.blocks},
        {"uptime_seconds", double(host_monotonic_ns() - started_ns_) / 1e9},
        {"pid", ::getpid()},
        {"console", {{"ring_ref", domain_->console_gfn()}, {"port", domain_->console_port()}}},
        {"store", {{"ring_ref", domain_->store_gfn()}, {"port", domain_->store_port()}}}};
    // Per-disk counters, for `domus top` and the metrics (xentop's VBD_RD/VBD_WR).
    nlohmann::json vbds = nlohmann::json::array();
    for (const auto& disk : domain_->disk_stats())
        vbds.push_back({{"vdev", disk.vdev},
                        {"reads", disk.blk.reads},
                        {"writes", disk.blk.writes},
                        {"read_bytes", disk.blk.bytes_read},
                        {"write_bytes", disk.blk.bytes_written},
                        {"errors", disk.blk.io_errors + disk.blk.bad_requests}});
    info["vbds"] = std::move(vbds);
    // Per-interface counters, seen from the guest (xentop's NETTX/NETRX).
    nlohmann::json vifs = nlohmann::json::array();
    for (const auto& vif : domain_->vif_stats())
        vifs.push_back({{"devid", vif.devid},
                        {"ifname", vif.ifname},
                        {"mac", vif.mac},
                        {"tx_packets", vif.net.tx_packets},
                        {"tx_bytes", vif.net.tx_bytes},
                        {"rx_packets", vif.net.rx_packets},
                        {"rx_bytes", vif.net.rx_bytes},
                        {"errors", vif.net.tx_errors + vif.net.rx_errors},
                        {"dropped", vif.net.tx_dropped},
                        {"notifications", vif.net.notifications}});
    info["vifs"] = std::move(vifs);
    info["memory_kib"] = domain_->reservation().current_frames() * (kPageSize / 1024);
    info["max_memory_kib"] = domain_->reservation().maximum_frames() * (kPageSize / 1024);
    if (exit_)
        info["exit"] = {{"kind", exit_kind_name(exit_->kind)},
                        {"code", exit_->code},
                        {"detail", exit_->detail}};
    return info.dump();
}

nlohmann::json ControlServer::set_max_memory(const nlohmann::json& request) {
    // xl mem-max's rule: never below what the guest holds now; the RAM's size (maxmem
    // at creation) is the ceiling.
    if (!request.contains("kib") || !request["kib"].is_number_unsigned())
        return {{"ok", false}, {"error", "set-max-memory needs \"kib\", a number"}};
    std::uint64_t kib = request["kib"].get<std::uint64_t>();
    Reservation& reservation = domain_->reservation();
    std::uint64_t frames = kib / (kPageSize / 1024);
    if (reservation.set_maximum_frames(frames)) return {{"ok", true}};
    return {{"ok", false},
            {"error", fmt::format("cannot set the maximum to {} KiB: the domain holds {} KiB and "
                                  "its RAM is {} KiB",
                                  kib, reservation.current_frames() * (kPageSize / 1024),
                                  domain_->layout().memory_size / 1024)}};
}

void ControlServer::send(Client& client, const std::string& json) {
    std::string line = json + "\n";
    // Replies are small and the socket buffer large: a client that does not read is
    // dropped rather than allowed to stall the domain's control.
    if (::send(client.fd.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT) !=
        ssize_t(line.size()))
        client.fd.reset();
}

void ControlServer::handle_line(Client& client, const std::string& line) {
    auto request = nlohmann::json::parse(line, nullptr, false);
    if (request.is_discarded() || !request.is_object() || !request.contains("op") ||
        !request["op"].is_string()) {
        send(client, R"({"ok":false,"error":"malformed request"})");
        return;
    }
    std::string op = request["op"];
    if (op == "info") {
        send(client, info_json());
    } else if (op == "pause" || op == "unpause") {
        if (exit_) return send(client, R"({"ok":false,"error":"the domain has shut down"})");
        if (op == "pause")
            domain_->pause();
        else if (!domain_->resume_cancelled())  // a suspended domain goes on: cancelled
            domain_->unpause();
        send(client, R"({"ok":true})");
    } else if (op == "resume") {
        if (exit_ || !domain_->resume_cancelled())
            return send(client, R"({"ok":false,"error":"the domain is not suspended"})");
        send(client, R"({"ok":true})");
    } else if (op == "inactivate-disks" || op == "activate-disks") {
        // Migration over shared storage: the destination may open the images now (or,
        // after a failure, they are ours again).
        if (op == "inactivate-disks") {
            storage::ImageLockTable::process().inactivate();
            return send(client, R"({"ok":true})");
        }
        auto active = storage::ImageLockTable::process().activate();
        send(client,
             active ? nlohmann::json({{"ok", true}}).dump()
                    : nlohmann::json({{"ok", false}, {"error", active.error().message}}).dump());
    } else if (op == "save") {
        if (exit_) return send(client, R"({"ok":false,"error":"the domain has shut down"})");
        if (client.fds.empty())
            return send(
                client,
                R"({"ok":false,"error":"save needs the stream's fd, passed with SCM_RIGHTS"})");
        start_save(client, std::move(request));
    } else if (op == "receive") {
        if (exit_) return send(client, R"({"ok":false,"error":"the domain has shut down"})");
        if (!incoming_ || receiving_)
            return send(client, R"({"ok":false,"error":"the domain is not waiting for a stream"})");
        std::vector<PassedFile> files = take_files(request, client.fds);  // its disks'
        if (client.fds.empty())
            return send(
                client,
                R"({"ok":false,"error":"receive needs the stream's fd, passed with SCM_RIGHTS"})");
        start_receive(client, std::move(files));
    } else if (op == "destroy") {
        destroy_ = true;
        destroy_cv_.notify_all();
        domain_->stop({ExitKind::interrupted, 0, "destroyed"});
        send(client, R"({"ok":true})");
    } else if (op == "watch") {
        client.watching = true;
        send(client, R"({"ok":true})");
        if (domain_->suspended()) send(client, R"({"event":"suspended"})");
        if (exit_) {
            nlohmann::json event = {{"event", "exit"},
                                    {"kind", exit_kind_name(exit_->kind)},
                                    {"code", exit_->code},
                                    {"detail", exit_->detail}};
            send(client, event.dump());
        }
    } else if (op == "console") {
        for (auto& other : clients_)
            if (other->console && other->fd)
                return send(client, R"({"ok":false,"error":"a console is already attached"})");
        send(client, R"({"ok":true})");
        client.console = true;
        domain_->console().set_output(client.fd.get(), true);
        if (exit_) {  // a preserved domain: its history, then the end
            domain_->console().set_output(-1, false);
            ::shutdown(client.fd.get(), SHUT_RDWR);
        }
    } else if (op == "set-max-memory") {
        send(client, set_max_memory(request).dump());
    } else if (is_device_request(op)) {
        start_worker(client, std::move(request));
    } else {
        send(client, nlohmann::json({{"ok", false}, {"error", "unknown op: " + op}}).dump());
    }
}

void ControlServer::notify_suspended() {
    std::lock_guard lock(mutex_);
    for (auto& c : clients_)
        if (c->watching && c->fd) send(*c, R"({"event":"suspended"})");
}

void ControlServer::start_save(Client& client, nlohmann::json request) {
    // Caller holds mutex_. The stream fd is the last one the client passed.
    auto fd = std::make_shared<Fd>(std::move(client.fds.back()));
    client.fds.clear();
    workers_.emplace_back([this, serial = client.serial, fd, request = std::move(request)] {
        SaveRequest save;
        save.xl_config = request.value("xl_config", "");
        if (auto store = request.find("store"); store != request.end() && store->is_object())
            for (auto& [key, value] : store->items())
                if (value.is_string()) save.store.emplace_back(key, value.get<std::string>());
        auto to_client = [&](const nlohmann::json& event) {
            std::lock_guard lock(mutex_);
            for (auto& c : clients_)
                if (c->serial == serial && c->fd) send(*c, event.dump());
        };
        auto progress = [&](const SaveProgress& p) {
            to_client({{"event", "progress"},
                       {"phase", p.phase},
                       {"bytes", p.bytes},
                       {"pages", p.pages},
                       {"round", p.round},
                       {"dirty", p.dirty},
                       {"expected_downtime_ms", p.expected_downtime_ms},
                       {"throttle", p.throttle}});
        };
        if (auto live = request.find("live"); live != request.end() && live->is_object()) {
            save.live.enabled = true;
            save.live.max_rounds = live->value("max_rounds", save.live.max_rounds);
            save.live.max_downtime_ms = live->value("max_downtime_ms", save.live.max_downtime_ms);
            save.live.rate_bytes_per_second = live->value("rate_bytes_per_second", 0ull);
            // The toolstack suspends the guest (control/shutdown) when asked to.
            save.suspend = [&]() -> Result<void> {
                to_client({{"event", "suspend-now"}});
                for (int i = 0; i < 30'000 && !domain_->suspended(); ++i) {
                    if (domain_->stopping()) return make_error("the domain ended");
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                }
                if (!domain_->suspended()) return make_error("the guest did not suspend in 30 s");
                return {};
            };
        }
        auto saved = save_domain(*domain_, fd->get(), save, progress);
        fd->reset();  // the reader sees the end now
        nlohmann::json reply = {{"ok", bool(saved)}};
        if (saved)
            reply.update({{"bytes", saved->bytes},
                          {"pages", saved->pages},
                          {"zero_pages", saved->zero_pages},
                          {"milliseconds", saved->milliseconds},
                          {"rounds", saved->rounds},
                          {"final_ms", saved->final_ms},
                          {"throttle", saved->throttle_percent}});
        else
            reply["error"] = saved.error().message;
        std::lock_guard lock(mutex_);
        for (auto& c : clients_)
            if (c->serial == serial && c->fd) send(*c, reply.dump());
    });
}

void ControlServer::start_receive(Client& client, std::vector<PassedFile> files) {
    // Caller holds mutex_. The stream fd is the last one the client passed; the disks
    // open once the stream is in, from `files`.
    receiving_ = true;
    auto fd = std::make_shared<Fd>(std::move(client.fds.back()));
    client.fds.clear();
    workers_.emplace_back([this, serial = client.serial, fd, files = std::move(files)]() mutable {
        auto lease = HostFiles::process().lend(std::move(files));
        auto started = std::chrono::steady_clock::now();
        nlohmann::json reply = {{"ok", false}};
        auto source =
            RestoreSource::incoming(std::move(*fd), [this] { return domain_->stopping(); });
        Result<void> received = make_error("no stream");
        if (source)
            received = domain_->receive(**source);
        else
            received = source.error();
        if (received) {
            nlohmann::json store = nlohmann::json::object();
            for (const auto& [key, value] : (*source)->store)
                store[key] = value;
            reply = {{"ok", true},
                     {"bytes", (*source)->bytes()},
                     {"milliseconds", std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - started)
                                          .count()},
                     {"store", std::move(store)}};
        } else {
            if (!source) domain_->stop({ExitKind::error, 0, "restore: " + source.error().message});
            reply["error"] = received.error().message;
        }
        std::lock_guard lock(mutex_);
        for (auto& c : clients_)
            if (c->serial == serial && c->fd) send(*c, reply.dump());
    });
}

std::vector<PassedFile> ControlServer::take_files(const nlohmann::json& request,
                                                  std::vector<Fd>& fds) {
    // domusd's "files": one {path, real_path} per fd, the first fds passed, in order.
    std::vector<PassedFile> files;
    auto listed = request.find("files");
    if (listed == request.end() || !listed->is_array()) return files;
    for (const auto& file : *listed) {
        if (files.size() >= fds.size() || !file.is_object()) break;
        files.push_back({file.value("path", std::string()), file.value("real_path", std::string()),
                         std::move(fds[files.size()])});
    }
    fds.erase(fds.begin(), fds.begin() + std::ptrdiff_t(files.size()));
    return files;
}

void ControlServer::start_worker(Client& client, nlohmann::json request) {
    // Caller holds mutex_. The answer goes to this client if it is still connected.
    // The files the request needs come with it and are this process's to open while it
    // runs (base/host_files.hpp).
    std::vector<PassedFile> files = take_files(request, client.fds);
    client.fds.clear();
    workers_.emplace_back([this, serial = client.serial, request = std::move(request),
                           files = std::move(files)]() mutable {
        auto lease = HostFiles::process().lend(std::move(files));
        nlohmann::json reply = handle_device_request(*domain_, request);
        std::lock_guard lock(mutex_);
        for (auto& c : clients_)
            if (c->serial == serial && c->fd) send(*c, reply.dump());
    });
}

void ControlServer::thread_main() {
    for (;;) {
        std::vector<pollfd> fds;
        {
            std::lock_guard lock(mutex_);
            if (stop_) return;
            std::erase_if(clients_, [&](auto& c) {
                if (c->fd) return false;
                if (c->console) domain_->console().set_output(-1, false);
                return true;
            });
            fds.push_back({listener_.get(), POLLIN, 0});
            fds.push_back({wake_.get(), POLLIN, 0});
            for (auto& client : clients_)
                fds.push_back({client->fd.get(), POLLIN, 0});
        }
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        std::lock_guard lock(mutex_);
        if (fds[1].revents) {
            std::uint64_t value;
            [[maybe_unused]] auto n = ::read(wake_.get(), &value, sizeof(value));
        }
        if (fds[0].revents & POLLIN) {
            int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
            if (fd >= 0)
                clients_.push_back(
                    std::make_unique<Client>(Client{Fd(fd), next_serial_++, {}, false, false, {}}));
        }
        for (std::size_t i = 2; i < fds.size(); ++i) {
            if (!fds[i].revents) continue;
            auto it = std::find_if(clients_.begin(), clients_.end(),
                                   [&](auto& c) { return c->fd.get() == fds[i].fd; });
            if (it == clients_.end()) continue;
            Client& client = **it;
            char buffer[4096];
            iovec io{buffer, sizeof(buffer)};
            alignas(cmsghdr) char control[CMSG_SPACE(kMaxPassedFds * sizeof(int))];
            msghdr message{};
            message.msg_iov = &io;
            message.msg_iovlen = 1;
            message.msg_control = control;
            message.msg_controllen = sizeof(control);
            ssize_t n = ::recvmsg(client.fd.get(), &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
            if (n > 0) take_passed_fds(message, client.fds);  // `save`'s stream
            if (n <= 0) {
                if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
                if (client.console) domain_->console().set_output(-1, false);
                client.fd.reset();
                continue;
            }
            if (client.console) {
                domain_->console().push_input({buffer, std::size_t(n)});
                continue;
            }
            client.input.append(buffer, std::size_t(n));
            for (auto at = client.input.find('\n'); at != std::string::npos && client.fd;
                 at = client.input.find('\n')) {
                std::string line = client.input.substr(0, at);
                client.input.erase(0, at + 1);
                handle_line(client, line);
                if (client.console) {
                    if (!client.input.empty()) domain_->console().push_input(client.input);
                    client.input.clear();
                    break;
                }
            }
            if (client.input.size() > kMaxLine) client.fd.reset();
        }
    }
}

}  // namespace domus::monitor
