// AF_UNIX sockets by path, and whole-buffer send/receive with EINTR handled: the
// socket plumbing that the store, the toolstack and their clients share.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/fd.hpp"
#include "base/result.hpp"

namespace domus {

// A blocking, close-on-exec connection of `type` (SOCK_STREAM, SOCK_SEQPACKET) to `path`.
Result<Fd> connect_unix(const std::string& path, int type = SOCK_STREAM);

// Removes a stale file at `path`, binds a non-blocking, close-on-exec socket of `type`
// there with mode 0600 from the start, and listens. The caller must own the folder
// (e.g. hold its pid-file lock): the unlink assumes nobody else serves that path.
Result<Fd> listen_unix(const std::string& path, int type);

// Removes the socket file at `path` if nobody listens on it any more (a process that
// ended left it). Nothing there is fine; a live listener, or a file that is not a
// socket, stays and is an error.
Result<void> remove_stale_socket(const std::string& path);

// Sends all of `bytes` (MSG_NOSIGNAL: a closed peer is an error, not SIGPIPE).
Result<void> send_all(int fd, std::string_view bytes);

// One sendmsg of `bytes` with `fds` passed alongside (SCM_RIGHTS, at most
// kMaxPassedFds), EINTR retried; how many bytes went (a stream socket may take fewer:
// the rest goes with send_all, the fds having gone with the first byte).
constexpr std::size_t kMaxPassedFds = 64;
Result<std::size_t> send_with_fds(int fd, std::string_view bytes, std::span<const int> fds);

// Receives exactly `length` bytes; the peer closing first is an error.
Result<void> receive_all(int fd, void* data, std::size_t length);

// Appends to `fds` every descriptor passed (SCM_RIGHTS) in a received message's control
// data, so that each is owned (and closed) even when the message turns out bad.
void take_passed_fds(msghdr& message, std::vector<Fd>& fds);

// One message (a SOCK_SEQPACKET's) into `buffer`, with up to `max_fds` descriptors passed
// alongside (at most kMaxPassedFds), each owned by `fds` at once and close-on-exec;
// EINTR retried. The bytes received, 0 when the peer closed; `cut` says the message or
// its descriptors did not all fit.
struct Received {
    std::size_t bytes = 0;
    bool cut = false;
};
Result<Received> receive_with_fds(int fd, std::span<char> buffer, std::size_t max_fds,
                                  std::vector<Fd>& fds);

}  // namespace domus
