// Tests for monitor/domain_exit: each way a domain ends maps to its documented
// `domus run` exit status.
#include "monitor/domain_exit.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <set>

namespace domus::monitor {
namespace {

int status_of(ExitKind kind, std::uint32_t code = 0) {
    return exit_status({kind, code, ""});
}

TEST(ExitStatus, PoweroffPassesTheGuestCodeThrough) {
    EXPECT_EQ(status_of(ExitKind::poweroff, 0), 0);
    EXPECT_EQ(status_of(ExitKind::poweroff, 1), 1);
    EXPECT_EQ(status_of(ExitKind::poweroff, 42), 42);
    EXPECT_EQ(status_of(ExitKind::poweroff, 199), 199);
}

TEST(ExitStatus, PoweroffCodesAboveTheRangeAreClamped) {
    // So that a guest code can never be mistaken for a monitor status (200 and up).
    EXPECT_EQ(status_of(ExitKind::poweroff, 200), kStatusMaxGuestCode);
    EXPECT_EQ(status_of(ExitKind::poweroff, 250), 199);
    EXPECT_EQ(status_of(ExitKind::poweroff, 256), 199);
    EXPECT_EQ(status_of(ExitKind::poweroff, std::numeric_limits<std::uint32_t>::max()), 199);
}

TEST(ExitStatus, OtherKindsHaveFixedStatuses) {
    EXPECT_EQ(status_of(ExitKind::reboot), 200);
    EXPECT_EQ(status_of(ExitKind::crash), 201);
    EXPECT_EQ(status_of(ExitKind::watchdog), 202);
    EXPECT_EQ(status_of(ExitKind::suspend), 203);
    EXPECT_EQ(status_of(ExitKind::error), 210);
    EXPECT_EQ(status_of(ExitKind::crash, 5), 201);  // the code matters only for poweroff
}

TEST(ExitStatus, DefaultExitIsAMonitorError) {
    EXPECT_EQ(exit_status(DomainExit{}), kStatusMonitorError);
}

TEST(ExitStatus, UnknownKindIsAMonitorError) {
    EXPECT_EQ(status_of(ExitKind(42)), kStatusMonitorError);
}

TEST(ExitStatus, MonitorStatusesAreDistinctAndAboveGuestCodes) {
    std::set<int> statuses{kStatusReboot,  kStatusCrash,        kStatusWatchdog,
                           kStatusSuspend, kStatusMonitorError, kStatusInterrupted};
    EXPECT_EQ(statuses.size(), 6u);
    EXPECT_GT(*statuses.begin(), kStatusMaxGuestCode);
    EXPECT_LT(*statuses.rbegin(), 256);  // fits a process exit status
}

TEST(ExitKindName, NamesEveryKind) {
    EXPECT_STREQ(exit_kind_name(ExitKind::poweroff), "poweroff");
    EXPECT_STREQ(exit_kind_name(ExitKind::reboot), "reboot");
    EXPECT_STREQ(exit_kind_name(ExitKind::crash), "crash");
    EXPECT_STREQ(exit_kind_name(ExitKind::watchdog), "watchdog");
    EXPECT_STREQ(exit_kind_name(ExitKind::suspend), "suspend");
    EXPECT_STREQ(exit_kind_name(ExitKind::error), "error");
    EXPECT_STREQ(exit_kind_name(ExitKind(42)), "?");
}

}  // namespace
}  // namespace domus::monitor
