// Test helper: xenstore-watch in the background, read line by line as its events come,
// so a test waits for the real event (the first line: the watch is registered).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/fd.hpp"
#include "xenstored_process.hpp"

namespace domus::test {

class XenstoreWatch {
public:
    // `xenstore-watch args...` against `daemon`'s tool socket, e.g. {"-n", "2", "/a"}.
    XenstoreWatch(const XenstoredProcess& daemon, const std::vector<std::string>& args);
    ~XenstoreWatch();  // kills it if it still runs
    XenstoreWatch(const XenstoreWatch&) = delete;
    XenstoreWatch& operator=(const XenstoreWatch&) = delete;

    // The next line it printed (without '\n'); nothing if it ended or `limit` passed.
    std::optional<std::string> next_line(
        std::chrono::milliseconds limit = std::chrono::seconds(10));
    // Reads to the end of its output (up to `limit`) and returns its exit status;
    // -1 if it was still running (it is then killed).
    int exit_status(std::chrono::milliseconds limit = std::chrono::seconds(10));

private:
    enum class Read { Some, End, Timeout };
    // Appends what arrives to buffer_, waiting until `deadline` at most.
    Read read_more(std::chrono::steady_clock::time_point deadline);

    pid_t pid_ = -1;
    Fd out_;
    std::string buffer_;
};

}  // namespace domus::test
