// Shared set-up of the integration tests: where the binaries and guest images are,
// and a skip (never a silent pass) when this machine has no usable /dev/kvm.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "process.hpp"

namespace domus::test {

inline std::string domus_binary() {
    return DOMUS_BIN;
}
inline std::string guest_image(const std::string& name) {
    return std::string(DOMUS_GUEST_DIR) + "/" + name + ".elf";
}

class DomainTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "skipped: no /dev/kvm";
    }

    // `domus run IMAGE ARGS...` with no console input; 30 s limit unless given.
    static ProcessResult run(const std::string& image, std::vector<std::string> args = {},
                             std::chrono::milliseconds limit = std::chrono::seconds(30)) {
        std::vector<std::string> argv = {domus_binary(), "run", image, "--no-input"};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv, limit);
    }
};

// Exit statuses of `domus run` (docs/architecture.md).
inline constexpr int kReboot = 200, kCrash = 201, kMonitorError = 210, kInterrupted = 211;

}  // namespace domus::test
