// A hostile guest and bad images: the monitor stays up and says what went wrong.
#include <gtest/gtest.h>

#include <fstream>

#include "domus_fixture.hpp"

namespace domus::test {
namespace {

using HostileTest = DomainTest;

TEST_F(HostileTest, GarbageHypercallsGetErrorsAndTheMonitorSurvives) {
    auto r = run(guest_image("hostile"), {"--vcpus", "2"}, std::chrono::seconds(120));
    ASSERT_FALSE(r.timed_out) << r.out << r.err;
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("hostile: survived"), std::string::npos) << r.out;
}

std::string write_temp(const std::string& name, const std::string& bytes) {
    std::string path = ::testing::TempDir() + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

TEST_F(HostileTest, NonElfFileIsRejected) {
    auto r = run(write_temp("not-elf", "#!/bin/sh\necho hello\n"));
    EXPECT_EQ(r.status, kMonitorError);
    EXPECT_NE(r.err.find("not an ELF file"), std::string::npos) << r.err;
}

TEST_F(HostileTest, MissingFileIsRejected) {
    auto r = run("/nonexistent/kernel.elf");
    EXPECT_EQ(r.status, kMonitorError);
    EXPECT_NE(r.err.find("No such file"), std::string::npos) << r.err;
}

TEST_F(HostileTest, DynamicHostExecutableIsRejected) {
    auto r = run("/bin/true");
    EXPECT_EQ(r.status, kMonitorError);
    EXPECT_NE(r.err.find("not supported"), std::string::npos) << r.err;
}

TEST_F(HostileTest, TruncatedImageIsRejected) {
    // Cut inside the code: the headers survive, the segments' file ranges do not.
    std::string image = read_all(guest_image("hello"));
    ASSERT_GT(image.size(), 16384u);
    auto r = run(write_temp("truncated", image.substr(0, 8192)));
    EXPECT_EQ(r.status, kMonitorError) << r.err;
    EXPECT_NE(r.err.find("outside the 8192-byte file"), std::string::npos) << r.err;
}

TEST_F(HostileTest, BadOptionsAreRejectedWithAMessage) {
    auto r = run(guest_image("hello"), {"--vcpus", "65"});
    EXPECT_EQ(r.status, kMonitorError);
    EXPECT_NE(r.err.find("vcpus"), std::string::npos) << r.err;
    r = run(guest_image("hello"), {"-m", "2"});
    EXPECT_EQ(r.status, kMonitorError);
}

TEST_F(HostileTest, OverlongCommandLineIsRejected) {
    auto r = run(guest_image("hello"), {"--cmdline", std::string(2000, 'x')});
    EXPECT_EQ(r.status, kMonitorError);
    EXPECT_NE(r.err.find("command line"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace domus::test
