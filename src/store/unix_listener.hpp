// listen_unix: a listening AF_UNIX socket at a path, for the daemon's two sockets.
#pragma once

#include <string>

#include "base/fd.hpp"
#include "base/result.hpp"

namespace domus::store {

// Removes a stale file at `path`, binds a non-blocking, close-on-exec socket of
// `type` (SOCK_STREAM, SOCK_SEQPACKET) there with mode 0600 from the start, listens.
Result<Fd> listen_unix(const std::string& path, int type);

}  // namespace domus::store
