// The CLI's way to domusd: one request, one reply; starts the daemon when it is not
// running (nobody starts it by hand).
#pragma once

#include <nlohmann/json.hpp>

#include "base/result.hpp"
#include "toolstack/run_dir.hpp"

namespace domus::cli {

// `fd`, when given, is passed alongside (SCM_RIGHTS): a migration's incoming stream.
Result<nlohmann::json> daemon_request(const nlohmann::json& request, int fd = -1);
toolstack::RunDir run_dir();

// Prints "domus: <message>" to stderr and returns the CLI's failure status (1).
int fail(const Error& error);

}  // namespace domus::cli
