// The CLI's way to domusd: one request, one reply (progress events before it, when asked
// for); starts the daemon when it is not running (nobody starts it by hand).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>

#include "base/result.hpp"
#include "toolstack/run_dir.hpp"

namespace domus::cli {

Result<nlohmann::json> daemon_request(const nlohmann::json& request);
// The same, asking for the operation's progress events ("progress": true): each goes to
// `on_progress` as it comes, before the reply (save, restore, migrate send them).
// `passed_fd`, when given, goes alongside (SCM_RIGHTS): a migration's incoming stream.
Result<nlohmann::json> daemon_request(
    const nlohmann::json& request,
    const std::function<void(const nlohmann::json& event)>& on_progress, int passed_fd = -1);
toolstack::RunDir run_dir();

// Prints "domus: <message>" to stderr and returns the CLI's failure status (1).
int fail(const Error& error);

}  // namespace domus::cli
