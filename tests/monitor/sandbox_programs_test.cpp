// The programs built into the monitors (sandbox_programs.hpp) are what the rules compile
// to now, with any pid in their slot, and the report's call names are libseccomp's.
#include "monitor/sandbox_programs.hpp"

#include <gtest/gtest.h>
#include <sys/syscall.h>

#include <span>
#include <vector>

#include "monitor/sandbox_rules.hpp"

namespace domus::monitor {
namespace {

bool same(const std::vector<sock_filter>& built, const std::vector<sock_filter>& compiled) {
    if (built.size() != compiled.size()) return false;
    for (std::size_t i = 0; i < built.size(); ++i) {
        const sock_filter &a = built[i], &b = compiled[i];
        if (a.code != b.code || a.jt != b.jt || a.jf != b.jf || a.k != b.k) return false;
    }
    return true;
}

// Each allowlist, with the pid of the process that installs it in its slot.
std::vector<sock_filter> filled(const sandbox_programs::Allowlist& allowlist, pid_t pid) {
    std::vector<sock_filter> code(allowlist.code.begin(), allowlist.code.end());
    code.at(allowlist.pid_slot).k = std::uint32_t(pid);
    return code;
}

// Not a pid equal to another rule's constant (1 is AF_UNIX): libseccomp would then share
// that rule's instructions, and the program it compiles would be shorter (the filled one
// is still right, its tgkill check of its own).
TEST(SandboxProgramsTest, TheAllowlistsAreWhatTheRulesCompileToForAnyPid) {
    for (pid_t pid : {4242, 65537, 4194304}) {
        auto paths = sandbox_rules::compile_allowlist(FileAccess::paths, pid);
        auto passed = sandbox_rules::compile_allowlist(FileAccess::passed, pid);
        ASSERT_TRUE(paths && passed);
        EXPECT_TRUE(same(filled(sandbox_programs::kAllowlistPaths, pid), *paths)) << pid;
        EXPECT_TRUE(same(filled(sandbox_programs::kAllowlistPassed, pid), *passed)) << pid;
        EXPECT_FALSE(same(filled(sandbox_programs::kAllowlistPaths, pid), *passed));
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
