// progress_line and ProgressOutput (see progress_line.hpp).
#include "cli/progress_line.hpp"

#include <unistd.h>

#include <cinttypes>

namespace domus::cli {
namespace {

std::uint64_t unsigned_field(const nlohmann::json& event, const char* key) {
    auto it = event.find(key);
    // Parsed JSON has non-negative integers unsigned; built ones may be signed.
    if (it == event.end() || !it->is_number_integer()) return 0;
    return it->is_number_unsigned() || it->get<std::int64_t>() >= 0 ? it->get<std::uint64_t>() : 0;
}

double number_field(const nlohmann::json& event, const char* key) {
    auto it = event.find(key);
    return it != event.end() && it->is_number() ? it->get<double>() : 0.0;
}

std::string string_field(const nlohmann::json& event, const char* key) {
    auto it = event.find(key);
    return it != event.end() && it->is_string() ? it->get<std::string>() : std::string();
}

template <class... Args>
std::string format(const char* pattern, Args... args) {
    char buffer[160];
    std::snprintf(buffer, sizeof(buffer), pattern, args...);
    return buffer;
}

}  // namespace

std::string progress_line(const nlohmann::json& event) {
    std::string line;
    std::string operation = string_field(event, "operation");
    std::string domain = string_field(event, "domain");
    if (!operation.empty()) line = operation + (domain.empty() ? "" : " " + domain) + ": ";
    std::string phase = string_field(event, "phase");
    line += phase.empty() ? "working" : phase;
    if (std::uint64_t round = unsigned_field(event, "round"))
        line += format(" round %" PRIu64, round);
    if (std::uint64_t disks = unsigned_field(event, "disk_bytes"))
        line += format(", %.1f MiB of disk data sent", double(disks) / (1024.0 * 1024.0));
    std::uint64_t bytes = unsigned_field(event, "bytes");
    if (bytes) line += format(", %.1f MiB sent", double(bytes) / (1024.0 * 1024.0));
    if (double rate = number_field(event, "mib_per_s"); rate > 0)
        line += format(", %.1f MiB/s", rate);
    if (double dirty = number_field(event, "dirty_mib_per_s"); dirty > 0)
        line += format(", dirty %.1f MiB/s", dirty);
    if (std::uint64_t expected = unsigned_field(event, "expected_downtime_ms"))
        line += format(", expected downtime %" PRIu64 " ms", expected);
    if (std::uint64_t throttle = unsigned_field(event, "throttle"))
        line += format(", throttled %" PRIu64 "%%", throttle);
    return line;
}

nlohmann::json done_event(const nlohmann::json& reply) {
    nlohmann::json event = reply;
    event.erase("ok");
    event["event"] = "done";
    return event;
}

nlohmann::json failed_event(const std::string& error) {
    return {{"event", "failed"}, {"error", error}};
}

ProgressOutput ProgressOutput::choose(bool json, std::FILE* out) {
    if (json) return {Mode::json, out};
    return {::isatty(::fileno(out)) ? Mode::terminal : Mode::none, out};
}

std::function<void(const nlohmann::json&)> ProgressOutput::handler() {
    if (mode_ == Mode::none) return {};
    return [this](const nlohmann::json& event) { show(event); };
}

void ProgressOutput::show(const nlohmann::json& event) {
    if (mode_ == Mode::json) {
        std::fprintf(out_, "%s\n", event.dump().c_str());
    } else if (mode_ == Mode::terminal) {
        // \r and "erase to the end of the line": the line is rewritten in place.
        std::fprintf(out_, "\r\033[K%s", progress_line(event).c_str());
        line_shown_ = true;
    }
    std::fflush(out_);
}

void ProgressOutput::finish() {
    if (mode_ == Mode::terminal && line_shown_) {
        std::fprintf(out_, "\r\033[K");
        std::fflush(out_);
    }
    line_shown_ = false;
}

}  // namespace domus::cli
