// The monitor's seccomp allowlist as libseccomp rules: each group of system calls with
// the reason the steady state needs it. Turned into BPF once, when Domus is built
// (sandbox_gen.cpp writes the programs that sandbox.cpp installs), so that no monitor
// compiles it again (~0.4 ms of CPU each) or loads libseccomp.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "monitor/file_access.hpp"

namespace domus::monitor::sandbox_rules {

using Program = std::vector<sock_filter>;

// The allowlist of a monitor's steady state: a forbidden call traps (SIGSYS), as does
// a call of another architecture. Signals go to the threads of process `pid` only.
Result<Program> compile_allowlist(FileAccess files, pid_t pid);

// The AUDIT_ARCH_* of a native call, and the name of system call `nr` ("" if none).
std::uint32_t native_arch();
std::string call_name(int nr);

}  // namespace domus::monitor::sandbox_rules
