// RunDir: the daemon's state folder <run dir>/xenstored (mode 0700) and its pid file,
// locked for the daemon's lifetime so that two daemons never share one run dir.
#pragma once

#include <string>

#include "base/fd.hpp"
#include "base/result.hpp"

namespace domus::store {

class RunDir {
public:
    // Creates <run_dir> (0755) and <run_dir>/xenstored (0700) as needed, then takes
    // an exclusive flock on xenstored/xenstored.pid and writes our pid there. Fails
    // (code EWOULDBLOCK, message naming the other pid) while another daemon holds it.
    static Result<RunDir> open(const std::string& run_dir);

    const std::string& path() const noexcept { return path_; }  // .../xenstored
    std::string socket_path(const char* name) const { return path_ + "/" + name; }

private:
    RunDir(std::string path, Fd pid_file)
        : path_(std::move(path)), pid_file_(std::move(pid_file)) {}

    std::string path_;
    Fd pid_file_;  // holds the lock; released when the process exits
};

}  // namespace domus::store
