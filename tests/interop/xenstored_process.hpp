// Test helper: runs domus-xenstored in a fresh temporary run dir for the life of the
// object, and talks the raw wire protocol to its tool socket. Used by the interop
// tests and the store benchmark.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/fd.hpp"

namespace domus::test {

class XenstoredProcess {
public:
    // Starts `binary --run-dir <dir>` and waits until it reports that it serves
    // (--ready-fd), or exits, for up to `limit`; running() says whether it serves. An
    // empty `run_dir` is a fresh temporary one, removed again by the destructor.
    // `extra` arguments follow (e.g. {"--no-journal"}).
    explicit XenstoredProcess(const std::string& binary, std::string run_dir = {},
                              std::chrono::milliseconds limit = std::chrono::seconds(30),
                              const std::vector<std::string>& extra = {});
    ~XenstoredProcess();  // SIGTERM, wait, remove the temp dir
    XenstoredProcess(const XenstoredProcess&) = delete;
    XenstoredProcess& operator=(const XenstoredProcess&) = delete;

    bool running() const noexcept { return pid_ > 0; }
    pid_t pid() const noexcept { return pid_; }
    const std::string& run_dir() const noexcept { return run_dir_; }
    std::string tool_socket() const { return run_dir_ + "/xenstored/socket"; }
    std::string domain_socket() const { return run_dir_ + "/xenstored/domains"; }
    std::string log() const;  // the daemon's stderr so far

    // Sends SIGTERM and returns the exit status (128 + signal if killed), -1 on timeout.
    int stop(std::chrono::milliseconds limit = std::chrono::seconds(5));

private:
    std::string run_dir_;
    bool owns_run_dir_ = false;
    pid_t pid_ = -1;
    Fd exited_;  // pidfd: readable once the daemon has exited
};

// A blocking connection to a Unix socket (SOCK_STREAM or SOCK_SEQPACKET); invalid Fd
// on failure.
Fd connect_unix(const std::string& path, int type);

// One request on the tool socket, and its reply payload ("ERR:<NAME>" for XS_ERROR).
std::string xs_call(int socket, std::uint32_t type, const std::string& payload,
                    std::uint32_t tx_id = 0);

}  // namespace domus::test
