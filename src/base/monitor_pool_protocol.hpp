// The two messages between domusd's monitor pool (toolstack/monitor_pool.hpp) and a
// pooled domus-vmm, over a SOCK_SEQPACKET pair (the monitor's fd 3):
//
//   monitor -> domusd  kWarmReport, once the monitor has done what every domain's start
//                      needs (exec and linking, /dev/kvm opened and queried, the
//                      seccomp allowlist compiling): it may be handed a domain now.
//   domusd -> monitor  the domain: the domus-vmm command line it would have been started
//                      with (each argument NUL-terminated), and two descriptors passed
//                      alongside, the domain's log (stdout and stderr) and the readiness
//                      pipe that its "--ready-fd 3" names.
//
// EOF instead of a domain (domusd gone) ends a pooled monitor quietly.
//
// The pool's monitors are forked, not exec'd, by the pool's parent: one
// `domus-vmm --warm-parent` that has been exec'd and linked and has opened and queried
// /dev/kvm once, for all of them (each fork takes that over with its memory, and saves
// the exec, the linking and KVM's CPUID query). Over its own SOCK_SEQPACKET pair (its fd 3):
//
//   domusd -> parent   kForkRequest, with the new monitor's end of a socket pair passed
//                      alongside: it becomes that monitor's fd 3, as above;
//   parent -> domusd   the new monitor's pid (a pid_t), or 0 if it could not fork.
//
// EOF (domusd gone) ends the parent; the monitors it forked go on their own sockets.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace domus {

// A warm monitor's command line: its program, then these two, then the run directory,
// then one argument of kTitleSpace spaces that makes room for the domain's command line
// to come (monitor/warm_start.hpp: without CAP_SYS_RESOURCE, which PR_SET_MM needs, a
// process can only rewrite its arguments in place).
inline constexpr const char* kWarmArguments[] = {"--warm", "--run-dir"};
// The pool's parent's, the same way (its title space becomes its monitors').
inline constexpr const char* kWarmParentArguments[] = {"--warm-parent", "--run-dir"};
inline constexpr std::string_view kForkRequest = "f";
inline constexpr std::size_t kTitleSpace = 2048;

inline constexpr std::string_view kWarmReport = "warm";
// A command line longer than this (hundreds of disks) starts a monitor the cold way.
inline constexpr std::size_t kMaxAssignmentBytes = 64 * 1024;

inline std::string encode_arguments(const std::vector<std::string>& argv) {
    std::string bytes;
    for (const auto& arg : argv) {
        bytes += arg;
        bytes += '\0';
    }
    return bytes;
}

inline std::vector<std::string> decode_arguments(std::string_view bytes) {
    std::vector<std::string> argv;
    while (!bytes.empty()) {
        std::size_t end = bytes.find('\0');
        if (end == std::string_view::npos) end = bytes.size();
        argv.emplace_back(bytes.substr(0, end));
        bytes.remove_prefix(std::min(end + 1, bytes.size()));
    }
    return argv;
}

}  // namespace domus
