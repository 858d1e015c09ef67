// Per-thread C library state: each thread owns a struct _reent inside its thread block
// (errno, strtok, dtoa buffers), while stdin/stdout/stderr are the global, locked FILEs
// so that output of all threads goes through one buffer. The main thread uses the
// global _reent itself, which exit() flushes.
#include "percpu.hpp"

#include <reent.h>
#include <string.h>

namespace {

void no_cleanup(struct _reent*) { }

} // namespace

extern "C" {

const size_t domus_libc_thread_area_size = sizeof(struct _reent);

void domus_libc_thread_init(void* area)
{
    auto* r = static_cast<struct _reent*>(area);
    _REENT_INIT_PTR(r);
    r->_stdin = _GLOBAL_REENT->_stdin;
    r->_stdout = _GLOBAL_REENT->_stdout;
    r->_stderr = _GLOBAL_REENT->_stderr;
    r->__sdidinit = 1; // its streams are the global ones: never __sinit this _reent
    r->__cleanup = no_cleanup;
}

void domus_libc_thread_fini(void* area)
{
    auto* r = static_cast<struct _reent*>(area);
    if (r != _GLOBAL_REENT)
        _reclaim_reent(r);
}

void domus_libc_use_global_reent(void)
{
    domus::guest::current_thread()->libc_area = _GLOBAL_REENT;
}

struct _reent* __getreent(void)
{
    domus_thread* t = domus::guest::current_thread();
    return t && t->libc_area ? static_cast<struct _reent*>(t->libc_area) : _GLOBAL_REENT;
}

} // extern "C"
