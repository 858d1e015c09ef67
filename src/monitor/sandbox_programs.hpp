// The sandbox's BPF programs and the names of system calls for its report, made from
// sandbox_rules.hpp when Domus was built: sandbox_gen.cpp writes their definitions into
// the build tree (sandbox_programs.cpp there).
#pragma once

#include <linux/filter.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace domus::monitor::sandbox_programs {

// An allowlist (sandbox_rules::compile_allowlist) made for one pid: instruction
// `pid_slot` compares with it, and takes the pid of the process that installs it.
struct Allowlist {
    std::span<const sock_filter> code;
    std::size_t pid_slot;
};
extern const Allowlist kAllowlistPaths;   // FileAccess::paths
extern const Allowlist kAllowlistPassed;  // FileAccess::passed

extern const std::uint32_t kNativeArch;  // the AUDIT_ARCH_* a native call's siginfo carries
inline constexpr int kNamedCalls = 512;
extern const char* const kCallNames[kNamedCalls];  // "" where the number has no name

}  // namespace domus::monitor::sandbox_programs
