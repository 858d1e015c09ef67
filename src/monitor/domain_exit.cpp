// Mapping of domain exits onto process exit statuses.
#include "monitor/domain_exit.hpp"

namespace domus::monitor {

int exit_status(const DomainExit& exit) noexcept {
    switch (exit.kind) {
        case ExitKind::poweroff:
            return exit.code > kStatusMaxGuestCode ? kStatusMaxGuestCode : int(exit.code);
        case ExitKind::reboot:
            return kStatusReboot;
        case ExitKind::crash:
            return kStatusCrash;
        case ExitKind::watchdog:
            return kStatusWatchdog;
        case ExitKind::suspend:
            return kStatusSuspend;
        case ExitKind::error:
            return kStatusMonitorError;
        case ExitKind::interrupted:
            return kStatusInterrupted;
    }
    return kStatusMonitorError;
}

const char* exit_kind_name(ExitKind kind) noexcept {
    switch (kind) {
        case ExitKind::poweroff:
            return "poweroff";
        case ExitKind::reboot:
            return "reboot";
        case ExitKind::crash:
            return "crash";
        case ExitKind::watchdog:
            return "watchdog";
        case ExitKind::suspend:
            return "suspend";
        case ExitKind::error:
            return "error";
        case ExitKind::interrupted:
            return "interrupted";
    }
    return "?";
}

}  // namespace domus::monitor
