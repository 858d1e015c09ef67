// The monitor's sandbox (docs/sandbox.md): what a compromised domus-vmm can still reach
// of the host. Two steps, in this order, for domus-vmm and the monitor `domus run` embeds:
//
//   harden_process()  first thing, before any thread exists (capability sets and
//                     no_new_privs are per thread and only inherited): closes inherited
//                     file descriptors, empties the bounding, inheritable and ambient
//                     capability sets, sets no_new_privs.
//   enter_sandbox()   once the domain is set up: the seccomp allowlist of the steady
//                     state (sandbox_rules.hpp, made into BPF when Domus was built), on
//                     every thread (TSYNC); a forbidden call logs and kills.
//
// DOMUS_SANDBOX=off in the environment turns both off (for debugging; logged loudly).
#pragma once

#include <sys/types.h>

#include <initializer_list>
#include <optional>

#include "base/result.hpp"
#include "monitor/file_access.hpp"

namespace domus::monitor {

// False when DOMUS_SANDBOX=off.
bool sandbox_enabled() noexcept;
// The loud warning of DOMUS_SANDBOX=off (harden_process() logs it; a warm monitor again,
// into the log of the domain it is given).
void warn_unsandboxed(const char* who);

// Closes every inherited fd above stderr except `keep`, empties the capability sets a
// new program would inherit from (sandbox.cpp says why not more), sets no_new_privs. `who`
// names the process in the log ("domus-vmm", "domus run"). With FileAccess::passed
// (domusd's monitors) the process also gets a mount namespace of its own, which
// enter_sandbox() empties.
Result<void> harden_process(const char* who, std::initializer_list<int> keep,
                            FileAccess files = FileAccess::paths);

// Installs the system-call allowlist on every thread of the process and the handler
// that reports a forbidden call ("<who>: forbidden system call N (name) — sandbox
// violation") on stderr before the process dies of SIGSYS. With FileAccess::passed,
// this process's HostFiles gives up paths too. With `user` (a root process's), every
// thread first becomes that user and group, without supplementary groups and so
// without capabilities.
Result<void> enter_sandbox(const char* who, FileAccess files,
                           std::optional<uid_t> user = std::nullopt);

}  // namespace domus::monitor
