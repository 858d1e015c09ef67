// Leaving the domain: poweroff with an exit code, reboot, and the crash path (panic).
// Each drains the console ring (bounded) and then asks the monitor to stop us.
#pragma once

#include <stdarg.h>
#include <stdint.h>

namespace domus::guest {

[[noreturn]] void poweroff(int code);
[[noreturn]] void reboot();
[[noreturn]] void panic(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] void vpanic(const char* fmt, va_list ap);

} // namespace domus::guest
