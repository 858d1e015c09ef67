// Kernel formatted output: a small vsnprintf (%d %i %u %x %X %p %s %c %%, with l/ll/z
// and width/zero-pad/left-align) so that the kernel does not depend on newlib's stdio.
#pragma once

#include <stdarg.h>
#include <stddef.h>

namespace domus::guest {

int kvsnprintf(char* buf, size_t size, const char* fmt, va_list ap);
int ksnprintf(char* buf, size_t size, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
int printk(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// printk with a va_list; what the public domus_printk wraps.
int vprintk(const char* fmt, va_list ap);

} // namespace domus::guest
