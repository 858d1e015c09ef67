// crash_point: where the crash-safety tests kill domusd. With DOMUS_CRASH_POINT=<name>
// in the daemon's environment, reaching crash_point("<name>") kills the daemon with
// SIGKILL, exactly as an operator's kill -9 would at that instant. Without it, nothing.
#pragma once

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>

namespace domus::toolstack {

inline void crash_point(const char* name) {
    static const char* const wanted = ::getenv("DOMUS_CRASH_POINT");
    if (wanted && std::strcmp(wanted, name) == 0) ::kill(::getpid(), SIGKILL);
}

}  // namespace domus::toolstack
