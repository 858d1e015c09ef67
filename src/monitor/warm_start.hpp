// A pooled ("warm") domus-vmm: started by domusd's monitor pool before any domain needs
// it, it waits on its pool socket for the domain it is to run
// (base/monitor_pool_protocol.hpp), then takes on that domain's identity and runs it as
// a monitor started for it would. What a start costs before the domain is known (exec,
// linking, /dev/kvm, the allowlist's compilation) is then paid ahead of `domus create`.
#pragma once

#include <signal.h>

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/result.hpp"

namespace domus::monitor {

inline constexpr int kPoolSocketFd = 3;

// Reports warm on `socket` and waits for a domain. On return the domain's log is on
// stdout and stderr, its readiness pipe on fd 3 (the pool socket closed), and the
// result is the domain's command line. nullopt: the pool closed (domusd is gone) or one
// of `stop_signals` (blocked) came first: exit quietly.
Result<std::optional<std::vector<std::string>>> wait_for_domain(int socket,
                                                                const sigset_t& stop_signals);

// Makes /proc/self/cmdline and the process name those of `argv`, as if the monitor had
// been started with it: ps, and a disk lock's holder description (storage/image_lock),
// read them. `area` is the process's own argument memory (argv[0] up to the end of the
// last argument); arguments that do not fit are left out (an error says so, the rest
// is done).
Result<void> take_command_line(std::span<char> area, const std::vector<std::string>& argv);

}  // namespace domus::monitor
