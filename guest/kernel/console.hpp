// The console: output into the monitor's xencons ring with one doorbell per write,
// input from the `in` ring woken by the console event. Before init_console() (and
// when there is no ring) output goes through console_io, one VM exit per call.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace domus::guest {

void init_console();
void console_resume(); // resumed in a new domain: its ring and port
void console_write(const char* buf, size_t len);
// For panic: never waits for a lock another context may hold forever.
void console_write_emergency(const char* buf, size_t len);
// Blocks the calling thread until at least one byte arrived; returns 1..len.
size_t console_read(char* buf, size_t len);
// Waits (bounded) until the backend has consumed everything written so far.
void console_flush(uint64_t timeout_ns);

} // namespace domus::guest
