// How `domus save`, `restore` and `migrate` show domusd's progress events: one line
// rewritten in place on a terminal, one JSON object per event with --json, nothing
// otherwise (scripts see today's output). Also the text `domus list` and `info` show.
#pragma once

#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace domus::cli {

// "migrate sc: live round 3, 120.5 MiB sent, 98.2 MiB/s, dirty 12.0 MiB/s, expected
// downtime 40 ms" from an event (toolstack/migration_progress.hpp); what the event does
// not say is left out.
std::string progress_line(const nlohmann::json& event);

// --json's last line: the reply as {"event":"done",...}, or {"event":"failed","error":..}.
nlohmann::json done_event(const nlohmann::json& reply);
nlohmann::json failed_event(const std::string& error);

// Where a command's progress goes.
class ProgressOutput {
public:
    enum class Mode { none, terminal, json };
    // --json: json; else a terminal on `out` (isatty): terminal; else none.
    static ProgressOutput choose(bool json, std::FILE* out = stdout);
    ProgressOutput(Mode mode, std::FILE* out) : mode_(mode), out_(out) {}

    Mode mode() const { return mode_; }
    // For daemon_request: empty when there is nothing to show (the request then does not
    // ask for events at all).
    std::function<void(const nlohmann::json&)> handler();
    void show(const nlohmann::json& event);
    // Terminal: clears the line, so the result prints where it was.
    void finish();

private:
    Mode mode_;
    std::FILE* out_;
    bool line_shown_ = false;
};

}  // namespace domus::cli
