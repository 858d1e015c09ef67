// ControlServer: the monitor's control socket, through which the toolstack daemon
// and `domus console` talk to a running domain. One JSON object per line:
//   {"op":"info"}      -> {"ok":true, "domid":..., "name":..., "state":"r|b|p|s|c",
//                          "vcpus": <online>, "vcpu_list": [{"vcpu":n, "online":b, "tid":t}], ...}
//                          (every vCPU slot; tid 0 only before the domain's threads start)
//   {"op":"pause"} / {"op":"unpause"} / {"op":"destroy"} -> {"ok":true}
//   {"op":"set-max-memory","kib":N} -> {"ok":true} (refused below the current reservation
//                                        or above the guest RAM's size)
//   {"op":"watch"}     -> {"ok":true}, later {"event":"exit", "kind":..., "code":..., "detail":...}
//   {"op":"console"}   -> {"ok":true}, then the connection carries raw console bytes
//   {"op":"resume"}    -> {"ok":true}: a suspended domain goes on here (cancelled suspend)
//   {"op":"save", "xl_config":..., "store":{path:value}} with the stream's fd passed
//                      (SCM_RIGHTS) -> {"event":"progress",...}*, then {"ok":true, "bytes":..,
//                      "pages":.., "zero_pages":.., "milliseconds":..}; the domain must be
//                      suspended (watchers get {"event":"suspended"} when the guest is).
//   {"op":"receive"} with the stream's fd passed (SCM_RIGHTS), on a domain made with
//                      --incoming: the rest of a migration stream (after its header and
//                      configuration) is applied as it comes -> {"ok":true, "bytes":..,
//                      "milliseconds":.., "store":{path:value}} once the domain is complete
//                      (still paused); on failure the domain ends with an error.
//   {"op":"inactivate-disks"} / {"op":"activate-disks"} -> {"ok":true}: the image locks
//                      let go for a migration's destination, and taken back after a failure
//   device requests (device_requests.hpp), answered from a worker thread
// Errors: {"ok":false, "error":"..."}. Runs one thread; callers own the Domain.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/fd.hpp"
#include "base/host_files.hpp"
#include "base/result.hpp"
#include "monitor/domain_exit.hpp"

namespace domus::monitor {

class Domain;

struct DomainIdentity {
    std::uint16_t domid = 0;
    std::string name;
    std::uint64_t memory_mib = 0;
    std::uint32_t vcpus = 0;
};

class ControlServer {
public:
    static Result<std::unique_ptr<ControlServer>> listen(const std::string& path, Domain& domain,
                                                         DomainIdentity identity,
                                                         bool incoming = false);
    ~ControlServer();

    // The domain ended: answer "info" with it and tell watchers.
    void domain_exited(const DomainExit& exit);
    // Blocks until a client asked for "destroy" (or stop_waiting() was called).
    void wait_for_destroy();
    void stop_waiting();
    // The "info" reply, as a client gets it: domus-vmm's readiness report carries it, so
    // domusd need not ask right after.
    std::string info();

private:
    struct Client {
        Fd fd;
        std::uint64_t serial = 0;  // tells a worker's client from a later one at its address
        std::string input;
        bool watching = false;
        bool console = false;
        std::vector<Fd> fds = {};  // passed with SCM_RIGHTS, for the next request
    };

    ControlServer(std::string path, Domain& domain, DomainIdentity identity)
        : path_(std::move(path)), domain_(&domain), identity_(std::move(identity)) {}
    void thread_main();
    void handle_line(Client& client, const std::string& line);
    std::string info_json();
    nlohmann::json set_max_memory(const nlohmann::json& request);
    void send(Client& client, const std::string& json);
    void notify_exit_locked();
    void start_worker(Client& client, nlohmann::json request);
    void start_save(Client& client, nlohmann::json request);
    void start_receive(Client& client, std::vector<PassedFile> files);
    // The files passed with `request` (its "files", the first of `fds`), taken out.
    static std::vector<PassedFile> take_files(const nlohmann::json& request, std::vector<Fd>& fds);
    void notify_suspended();

    std::string path_;
    Domain* domain_;
    DomainIdentity identity_;
    Fd listener_;
    Fd wake_;
    std::thread thread_;
    std::mutex mutex_;  // guards exit_, clients_ (writes from domain_exited), destroy_
    std::condition_variable destroy_cv_;
    std::optional<DomainExit> exit_;
    bool destroy_ = false;
    bool stop_ = false;
    bool incoming_ = false;   // the domain waits for a migration stream (`receive`)
    bool receiving_ = false;  // ... and one came
    std::vector<std::unique_ptr<Client>> clients_;
    std::uint64_t next_serial_ = 1;
    std::vector<std::thread> workers_;  // device requests; joined at the end
    std::uint64_t started_ns_ = 0;
};

}  // namespace domus::monitor
