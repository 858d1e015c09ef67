// JSON-lines request/reply over a unix stream socket: the format of the domusd
// protocol (CLI <-> daemon) and of a monitor's control socket (daemon/CLI <-> vmm).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "base/fd.hpp"
#include "base/result.hpp"
#include "base/unix_socket.hpp"

namespace domus::toolstack {

using domus::connect_unix;  // the sockets are SOCK_STREAM, the default
Result<void> send_json(int fd, const nlohmann::json& message);
// The same with `fds` passed alongside the message's first byte (SCM_RIGHTS).
Result<void> send_json(int fd, const nlohmann::json& message, std::span<const int> fds);
// Reads one line (a JSON object); `pending` keeps bytes past the line for the next call.
// `fds`, when given, gets the descriptors passed alongside (SCM_RIGHTS).
Result<nlohmann::json> receive_json(int fd, std::string& pending,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                    std::vector<Fd>* fds = nullptr);
// Connects, sends one request, returns the reply; {"ok":false} becomes an Error.
Result<nlohmann::json> json_request(const std::string& path, const nlohmann::json& request,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                    std::span<const int> fds = {});

}  // namespace domus::toolstack
