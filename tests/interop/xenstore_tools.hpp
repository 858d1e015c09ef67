// Test helper: runs Debian's xenstore-utils against a XenstoredProcess, the way an
// administrator would (XENSTORED_PATH pointing at the tool socket).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "../integration/process.hpp"
#include "xenstored_process.hpp"

namespace domus::test {

inline bool xenstore_utils_installed() {
    return ::access("/usr/bin/xenstore-read", X_OK) == 0 &&
           ::access("/usr/bin/xenstore-watch", X_OK) == 0;
}

// Skips (loudly) when the tools are missing: an interop test must never pass silently.
#define DOMUS_REQUIRE_XENSTORE_UTILS()                               \
    do {                                                             \
        if (!::domus::test::xenstore_utils_installed()) {            \
            std::printf("skipped: xenstore-utils not installed\n");  \
            GTEST_SKIP() << "skipped: xenstore-utils not installed"; \
        }                                                            \
    } while (0)

class XenstoreTools {
public:
    explicit XenstoreTools(const XenstoredProcess& daemon) : socket_(daemon.tool_socket()) {}

    // `xenstore-<tool> args...`, e.g. run("read", {"/a"}).
    ProcessResult run(const std::string& tool, std::vector<std::string> args,
                      std::chrono::milliseconds limit = std::chrono::seconds(10)) const {
        std::vector<std::string> argv = {"/usr/bin/env", "XENSTORED_PATH=" + socket_,
                                         "/usr/bin/xenstore-" + tool};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv, limit);
    }

private:
    std::string socket_;
};

}  // namespace domus::test
