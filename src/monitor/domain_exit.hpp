// How a domain ended, and the `domus run` exit status that reports it.
#pragma once

#include <cstdint>
#include <string>

namespace domus::monitor {

enum class ExitKind { poweroff, reboot, crash, watchdog, suspend, error, interrupted };

struct DomainExit {
    ExitKind kind = ExitKind::error;
    std::uint32_t code = 0;  // the guest's poweroff code
    std::string detail;      // crash or error description, registers included
};

// Exit statuses of `domus run` (also in docs/architecture.md and `domus run --help`).
inline constexpr int kStatusMaxGuestCode = 199;  // 0..199: the guest's poweroff code
inline constexpr int kStatusReboot = 200;
inline constexpr int kStatusCrash = 201;
inline constexpr int kStatusWatchdog = 202;
inline constexpr int kStatusSuspend = 203;
inline constexpr int kStatusMonitorError = 210;  // bad image, KVM failure, bad arguments
inline constexpr int kStatusInterrupted = 211;   // the monitor was stopped by a signal

int exit_status(const DomainExit& exit) noexcept;
const char* exit_kind_name(ExitKind kind) noexcept;

}  // namespace domus::monitor
