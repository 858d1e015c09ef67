// QemuTest: the base of the tests that run QEMU's tools against Domus's images: a
// private directory, a loud skip when qemu-img or qemu-io is missing (a weaker test
// passing in its place would hide the gap), and the commands every such test runs.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "test_files.hpp"

namespace domus::storage {

class QemuTest : public ::testing::Test {
protected:
    void SetUp() override {
        // Both come with Debian's qemu-utils (scripts/setup.sh).
        for (const char* tool : {"qemu-img", "qemu-io"})
            if (!testing::have_program(tool))
                GTEST_SKIP() << "skipped: " << tool << " not installed (qemu-utils)";
    }
    testing::TempDir dir;

    // Runs a shell command that must end with exit status `expected`; its output.
    std::string run(const std::string& command, int expected = 0) {
        std::string output;
        int status = testing::run_command(command, &output);
        EXPECT_EQ(status, expected) << command << "\n" << output;
        return output;
    }
    void expect_check_clean(const std::string& path) {
        std::string output = run("qemu-img check " + path);
        EXPECT_NE(output.find("No errors were found"), std::string::npos) << output;
        EXPECT_EQ(output.find("leaked"), std::string::npos) << output;
    }
};

}  // namespace domus::storage
