// The programs built into the monitors (sandbox_programs.hpp) are what the rules compile
// to now, the pid guard with any pid in its slot included, and the report's call names
// are libseccomp's.
#include "monitor/sandbox_programs.hpp"

#include <gtest/gtest.h>
#include <sys/syscall.h>

#include <span>
#include <vector>

#include "monitor/sandbox_rules.hpp"

namespace domus::monitor {
namespace {

bool same(std::span<const sock_filter> built, const std::vector<sock_filter>& compiled) {
    if (built.size() != compiled.size()) return false;
    for (std::size_t i = 0; i < built.size(); ++i) {
        const sock_filter &a = built[i], &b = compiled[i];
        if (a.code != b.code || a.jt != b.jt || a.jf != b.jf || a.k != b.k) return false;
    }
    return true;
}

TEST(SandboxProgramsTest, TheAllowlistsAreWhatTheRulesCompileTo) {
    auto paths = sandbox_rules::compile_allowlist(FileAccess::paths);
    auto passed = sandbox_rules::compile_allowlist(FileAccess::passed);
    ASSERT_TRUE(paths && passed);
    EXPECT_TRUE(same(sandbox_programs::kAllowlistPaths, *paths));
    EXPECT_TRUE(same(sandbox_programs::kAllowlistPassed, *passed));
    EXPECT_FALSE(same(sandbox_programs::kAllowlistPaths, *passed));  // they differ
}

TEST(SandboxProgramsTest, ThePidGuardTakesAnyPidInItsSlot) {
    for (pid_t pid : {1, 4242, 4194304}) {
        auto compiled = sandbox_rules::compile_pid_guard(pid);
        ASSERT_TRUE(compiled);
        std::vector<sock_filter> filled(sandbox_programs::kPidGuard.begin(),
                                        sandbox_programs::kPidGuard.end());
        ASSERT_LT(sandbox_programs::kPidGuardSlot, filled.size());
        filled[sandbox_programs::kPidGuardSlot].k = std::uint32_t(pid);
        EXPECT_TRUE(same(filled, *compiled)) << "pid " << pid;
    }
}

TEST(SandboxProgramsTest, TheReportNamesCallsAsLibseccompDoes) {
    EXPECT_EQ(sandbox_programs::kNativeArch, sandbox_rules::native_arch());
    EXPECT_STREQ(sandbox_programs::kCallNames[SYS_execve], "execve");
    EXPECT_STREQ(sandbox_programs::kCallNames[SYS_tgkill], "tgkill");
    for (int nr = 0; nr < sandbox_programs::kNamedCalls; ++nr)
        EXPECT_EQ(sandbox_programs::kCallNames[nr], sandbox_rules::call_name(nr)) << nr;
}

}  // namespace
}  // namespace domus::monitor
