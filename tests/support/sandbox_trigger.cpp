// Sandbox trigger (a test library put into a monitor with LD_PRELOAD): makes a system
// call the monitor's sandbox forbids when the test says so, with no hook in the product.
//
// DOMUS_SANDBOX_TRIGGER          a FIFO. A thread started before main() opens it (the open
//                                waits for the test's writer), reads one byte and then calls
//                                execve of a path that does not exist: forbidden under the
//                                sandbox, so the monitor dies of SIGSYS; without it the call
//                                fails harmlessly (ENOENT) and the shim says so on stderr.
// DOMUS_SANDBOX_TRIGGER_PROCESS  active only in processes whose executable has this base
//                                name (domus-vmm, or domus for `domus run`).
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace {

bool process_matches() {
    const char* wanted = std::getenv("DOMUS_SANDBOX_TRIGGER_PROCESS");
    if (!wanted || !*wanted) return false;
    char path[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (n <= 0) return false;
    path[n] = 0;
    const char* base = std::strrchr(path, '/');
    return std::strcmp(base ? base + 1 : path, wanted) == 0;
}

// A pooled monitor (`domus-vmm --warm`, domusd's pool) waits until it is given a domain,
// which rewrites its command line: the test means the domain's monitor, and the pool's
// others would otherwise take the byte.
bool warm() {
    char arguments[4096] = {};
    int fd = ::open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? 0 : ::read(fd, arguments, sizeof arguments - 1);
    if (fd >= 0) ::close(fd);
    for (ssize_t at = 0; at < n; at += ssize_t(std::strlen(arguments + at)) + 1)
        if (std::strcmp(arguments + at, "--warm") == 0) return true;
    return false;
}

void* wait_and_trigger(void* fifo) {
    while (warm())
        ::usleep(5000);
    int fd = ::open(static_cast<const char*>(fifo), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nullptr;
    char byte;
    ssize_t n = ::read(fd, &byte, 1);
    ::close(fd);
    if (n != 1) return nullptr;
    char* no_arguments[] = {nullptr};
    long rc = ::syscall(SYS_execve, "/nonexistent/domus-sandbox-trigger", no_arguments, environ);
    std::fprintf(stderr, "sandbox_trigger: execve returned %ld: not stopped\n", rc);
    return nullptr;
}

__attribute__((constructor)) void start() {
    const char* fifo = std::getenv("DOMUS_SANDBOX_TRIGGER");
    if (!fifo || !*fifo || !process_matches()) return;
    // The thread takes no signals (the monitor's stop signals are for its own watcher)
    // but SIGSYS: the kernel delivers a blocked SIGSYS as a silent kill, bypassing the
    // sandbox's handler that reports the call.
    sigset_t all, old;
    sigfillset(&all);
    sigdelset(&all, SIGSYS);
    ::pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t thread;
    if (::pthread_create(&thread, nullptr, wait_and_trigger, const_cast<char*>(fifo)) == 0)
        ::pthread_detach(thread);
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

}  // namespace
