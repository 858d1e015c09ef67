// The verbs every kind of hot-pluggable device has, as xl names them: `<kind>-detach
// DOMAIN DEVICE [--force] [--timeout S]` and `<kind>-list DOMAIN [--json]` (block-*,
// network-*). Each kind says how its devices are named and printed.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace domus::cli {

struct DeviceKind {
    std::string prefix;       // "block": the verbs block-detach, block-list, and domusd's ops
    std::string noun;         // "a PV disk", in the verbs' help
    std::string device_key;   // the request's key for the device ("vdev")
    std::string device_help;  // what DEVICE may be
    std::string what;         // the device in messages: "" (xvdb) or "vif " (vif 1)
    std::string list_field;   // the reply's list ("disks")
    void (*print)(const nlohmann::json& rows);
};

void add_detach_verb(CLI::App& app, int& status, const DeviceKind& kind);
void add_list_verb(CLI::App& app, int& status, const DeviceKind& kind);

}  // namespace domus::cli
