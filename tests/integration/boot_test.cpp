// Boots real guests and checks what a user sees: output, exit status, timing.
#include <gtest/gtest.h>

#include <regex>

#include "domus_fixture.hpp"

namespace domus::test {
namespace {

using BootTest = DomainTest;

int count(const std::string& text, const std::string& needle) {
    int n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++n;
    return n;
}

TEST_F(BootTest, HelloPrintsGreetingAndCommandLineThenPowersOff) {
    auto r = run(guest_image("hello"), {"--cmdline", "loops=3 colour=blue"});
    ASSERT_FALSE(r.timed_out) << r.err;
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(count(r.out, "Hello from Domus!"), 3) << r.out;
    EXPECT_NE(r.out.find("loops=3 colour=blue"), std::string::npos) << r.out;
}

TEST_F(BootTest, HelloRunsWithMoreMemoryAndFourVcpus) {
    auto r = run(guest_image("hello"), {"-m", "64", "--vcpus", "4"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(count(r.out, "Hello from Domus!"), 1) << r.out;
}

TEST_F(BootTest, PoweroffCodeBecomesExitStatus) {
    auto r = run(guest_image("crash"), {"--cmdline", "mode=exit:42"});
    EXPECT_EQ(r.status, 42) << r.out << r.err;
}

TEST_F(BootTest, RebootIsReported) {
    auto r = run(guest_image("crash"), {"--cmdline", "mode=reboot"});
    EXPECT_EQ(r.status, kReboot) << r.out << r.err;
}

TEST_F(BootTest, KernelPanicIsACrashWithItsReason) {
    auto r = run(guest_image("crash"), {"--cmdline", "mode=panic"});
    EXPECT_EQ(r.status, kCrash) << r.out << r.err;
    EXPECT_NE((r.out + r.err).find("panic"), std::string::npos) << r.out << r.err;
}

TEST_F(BootTest, FaultingGuestIsReportedAsCrashedWithRegisters) {
    auto r = run(guest_image("crash"), {"--cmdline", "mode=null"});
    ASSERT_FALSE(r.timed_out);
    EXPECT_EQ(r.status, kCrash) << r.out << r.err;
    EXPECT_NE(r.err.find("domain crashed"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("rip="), std::string::npos) << r.err;
}

// What the guest can promise under any load: a sleep never ends early by the guest's
// clock, that clock does not run ahead of the host's, and the timer fires. How late it
// fires on a quiet host is a benchmark figure (timer_sleep_50ms_late_ms in bench/run).
TEST_F(BootTest, SleepOf50MillisecondsNeverEndsEarlyAndEnds) {
    auto r = run(guest_image("timer"));
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(sleep_ms ([0-9.]+))"))) << r.out;
    double ms = std::stod(m[1]);
    EXPECT_GE(ms, 50.0);
    EXPECT_GE(r.elapsed.count(), ms);  // the whole run, by the host's clock
    EXPECT_LT(ms, 10'000.0);
}

TEST_F(BootTest, SelfTestPassesOnFourVcpus) {
    auto r = run(guest_image("selftest"), {"--vcpus", "4", "-m", "64"}, std::chrono::seconds(60));
    ASSERT_FALSE(r.timed_out) << r.out << r.err;
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("selftest: PASS"), std::string::npos) << r.out;
}

TEST_F(BootTest, SigtermStopsTheDomainWithTheInterruptedStatus) {
    // hello sleeping for a minute is stopped after half a second.
    auto r =
        run_process({"/usr/bin/timeout", "--preserve-status", "-s", "TERM", "0.5", domus_binary(),
                     "run", guest_image("hello"), "--no-input", "--cmdline", "sleep_ms=60000"},
                    std::chrono::seconds(20));
    EXPECT_EQ(r.status, kInterrupted) << r.err;
}

}  // namespace
}  // namespace domus::test
