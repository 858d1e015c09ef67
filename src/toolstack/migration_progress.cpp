// ProgressTrack and MigrationProgress (see migration_progress.hpp): rates from consecutive
// events, and the running operations' latest events behind one mutex.
#include "toolstack/migration_progress.hpp"

namespace domus::toolstack {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;
constexpr std::uint64_t kPageSize = 4096;

std::uint64_t field(const nlohmann::json& event, const char* key, std::uint64_t otherwise) {
    auto it = event.find(key);
    // Parsed JSON has non-negative integers unsigned; built ones may be signed.
    if (it == event.end() || !it->is_number_integer()) return otherwise;
    if (!it->is_number_unsigned() && it->get<std::int64_t>() < 0) return otherwise;
    return it->get<std::uint64_t>();
}

}  // namespace

nlohmann::json ProgressTrack::add(const nlohmann::json& event, std::uint64_t elapsed_ms) {
    nlohmann::json out = latest_;
    for (const char* key : {"operation", "domain", "phase"})
        if (auto it = event.find(key); it != event.end() && it->is_string()) out[key] = *it;
    std::uint64_t previous_bytes = field(latest_, "bytes", 0);
    for (const char* key : {"bytes", "pages", "round", "dirty", "throttle", "disk_bytes"})
        out[key] = field(event, key, field(latest_, key, 0));
    // A round end (or the first event) says what to expect; copying in between does not.
    std::uint64_t expected = field(event, "expected_downtime_ms", 0);
    out["expected_downtime_ms"] = expected ? expected : field(latest_, "expected_downtime_ms", 0);
    out["event"] = "progress";
    out["elapsed_ms"] = elapsed_ms;

    std::uint64_t bytes = out["bytes"].get<std::uint64_t>();
    double mib_per_s = latest_.value("mib_per_s", 0.0);
    if (any_ && elapsed_ms > last_ms_)
        mib_per_s = double(bytes >= previous_bytes ? bytes - previous_bytes : 0) / kMiB /
                    (double(elapsed_ms - last_ms_) / 1000.0);
    else if (!any_ && elapsed_ms > 0)
        mib_per_s = double(bytes) / kMiB / (double(elapsed_ms) / 1000.0);
    out["mib_per_s"] = mib_per_s;

    double dirty_rate = latest_.value("dirty_mib_per_s", 0.0);
    auto round = std::uint32_t(out["round"].get<std::uint64_t>());
    if (out["phase"] == "live" && round != last_round_) {
        std::uint64_t took = elapsed_ms > round_start_ms_ ? elapsed_ms - round_start_ms_ : 0;
        if (took > 0)
            dirty_rate = double(out["dirty"].get<std::uint64_t>() * kPageSize) / kMiB /
                         (double(took) / 1000.0);
        round_start_ms_ = elapsed_ms;
        last_round_ = round;
    }
    out["dirty_mib_per_s"] = dirty_rate;

    any_ = true;
    last_ms_ = elapsed_ms;
    latest_ = out;
    return out;
}

MigrationProgress::Operation::~Operation() {
    owner_.end(id_);
}

void MigrationProgress::Operation::report(const nlohmann::json& event) {
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started_);
    nlohmann::json out = track_.add(event, std::uint64_t(elapsed.count()));
    owner_.update(id_, out);
    if (sink_) sink_(out);
}

void MigrationProgress::Operation::phase(const std::string& name) {
    report({{"phase", name}});
}

void MigrationProgress::Operation::set_domain(const std::string& domain) {
    track_.add({{"domain", domain}}, track_.latest().value("elapsed_ms", std::uint64_t(0)));
    owner_.update(id_, track_.latest());
}

std::unique_ptr<MigrationProgress::Operation> MigrationProgress::begin(const std::string& operation,
                                                                       const std::string& domain,
                                                                       ProgressSink sink) {
    std::uint64_t id;
    {
        std::lock_guard lock(mutex_);
        id = next_id_++;
    }
    std::unique_ptr<Operation> handle(new Operation(*this, id, std::move(sink)));
    handle->track_.add({{"operation", operation}, {"domain", domain}, {"phase", "preparing"}}, 0);
    update(id, handle->track_.latest());
    return handle;
}

nlohmann::json MigrationProgress::running() const {
    std::lock_guard lock(mutex_);
    nlohmann::json out = nlohmann::json::array();
    for (const auto& [id, latest] : running_)
        out.push_back(latest);
    return out;
}

nlohmann::json MigrationProgress::of(const std::string& domain) const {
    std::lock_guard lock(mutex_);
    for (const auto& [id, latest] : running_)
        if (latest.value("domain", "") == domain) return latest;
    return nullptr;
}

void MigrationProgress::update(std::uint64_t id, const nlohmann::json& latest) {
    std::lock_guard lock(mutex_);
    running_[id] = latest;
}

void MigrationProgress::end(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    running_.erase(id);
}

}  // namespace domus::toolstack
