// Progress of domusd's saves, restores and migrations (docs/migration.md "Progress"): the
// events an operation goes through, with rates worked out from consecutive events, sent to
// the client that asked for them and kept (the latest) for `domus list` and `domus info`.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace domus::toolstack {

// Where a request's progress events go (its client's connection); empty: nowhere.
using ProgressSink = std::function<void(const nlohmann::json& event)>;

// One operation's events folded in order. An event is a monitor's
// {"event":"progress","phase":..,"bytes":..,"pages":..,"round":..,"dirty":..,
// "expected_downtime_ms":..,"throttle":..} or a phase of domusd's own ({"phase":..}, and
// "disk_bytes" while --copy-disks sends the disks):
// what an event leaves out is carried over from the one before. Each comes out with
// "elapsed_ms", "mib_per_s" (bytes sent between this event and the last one) and
// "dirty_mib_per_s" (the frames dirtied during the round that just ended, over that round's
// time; carried between round ends, which are the events of phase "live").
class ProgressTrack {
public:
    nlohmann::json add(const nlohmann::json& event, std::uint64_t elapsed_ms);
    const nlohmann::json& latest() const { return latest_; }

private:
    nlohmann::json latest_ = nlohmann::json::object();
    std::uint64_t last_ms_ = 0;
    std::uint64_t round_start_ms_ = 0;
    std::uint32_t last_round_ = 0;
    bool any_ = false;
};

// The operations running now, each with its latest event. Thread-safe: operations run
// on their clients' threads, `running` is asked from others.
class MigrationProgress {
public:
    class Operation {
    public:
        ~Operation();
        Operation(const Operation&) = delete;
        Operation& operator=(const Operation&) = delete;

        // Folds `event` in, keeps it as the latest and sends it to the client.
        void report(const nlohmann::json& event);
        // A phase of domusd's own (suspending, checking, loading, starting, ...).
        void phase(const std::string& name);
        // The domain, once known (a restore learns its name from the image).
        void set_domain(const std::string& domain);

    private:
        friend class MigrationProgress;
        Operation(MigrationProgress& owner, std::uint64_t id, ProgressSink sink)
            : owner_(owner), id_(id), sink_(std::move(sink)) {}
        MigrationProgress& owner_;
        std::uint64_t id_;
        ProgressSink sink_;
        ProgressTrack track_;
        std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    };

    // `operation`: save, restore, migrate; `domain`: its name. Ends when the handle goes.
    std::unique_ptr<Operation> begin(const std::string& operation, const std::string& domain,
                                     ProgressSink sink);
    // Every running operation's latest event (with "operation" and "domain"), oldest first.
    nlohmann::json running() const;
    // The latest event of a running operation on `domain`; null if there is none.
    nlohmann::json of(const std::string& domain) const;

private:
    void update(std::uint64_t id, const nlohmann::json& latest);
    void end(std::uint64_t id);

    mutable std::mutex mutex_;
    std::uint64_t next_id_ = 1;
    std::map<std::uint64_t, nlohmann::json> running_;
};

}  // namespace domus::toolstack
