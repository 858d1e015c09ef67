// Sandbox trigger (a test library put into a monitor with LD_PRELOAD): makes a system
// call the monitor's sandbox forbids when the test says so, with no hook in the product.
//
// DOMUS_SANDBOX_TRIGGER          set (to anything) to arm it. A thread named
//                                "sandbox-trigger", started before main(), waits for a
//                                signal the test sends to that thread (tgkill):
//                                  SIGURG    execve of a path that does not exist: forbidden
//                                            under the sandbox, so the monitor dies of
//                                            SIGSYS; without it the call fails harmlessly
//                                            (ENOENT) and the shim says so on stderr;
//                                  SIGWINCH  open and remove DOMUS_SANDBOX_TRIGGER_FILE (a
//                                            compromised monitor going after a host file),
//                                            reporting how each went on stderr.
//                                The thread holds no fd: the monitor closes inherited fds
//                                at its start, and a monitor of domusd later reaches no
//                                path, so a signal is the one way in that always works.
// DOMUS_SANDBOX_TRIGGER_FILE     the file of SIGWINCH.
// DOMUS_SANDBOX_TRIGGER_PROCESS  active only in processes whose executable has this base
//                                name (domus-vmm, or domus for `domus run`).
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace {

char g_file[PATH_MAX];  // read before main(): the environment is the process's

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

void* wait_and_trigger(void*) {
    ::prctl(PR_SET_NAME, "sandbox-trigger", 0, 0, 0);
    sigset_t commands;
    sigemptyset(&commands);
    sigaddset(&commands, SIGURG);
    sigaddset(&commands, SIGWINCH);
    for (;;) {
        int signal = 0;
        if (sigwait(&commands, &signal) != 0) continue;
        if (signal == SIGWINCH) {
            int file = ::open(g_file, O_RDONLY | O_CLOEXEC);
            std::fprintf(stderr, "sandbox_trigger: open %s: %s\n", g_file,
                         file >= 0 ? "opened" : std::strerror(errno));
            if (file >= 0) ::close(file);
            int removed = ::unlink(g_file);
            std::fprintf(stderr, "sandbox_trigger: unlink %s: %s\n", g_file,
                         removed == 0 ? "removed" : std::strerror(errno));
            continue;
        }
        char* no_arguments[] = {nullptr};
        long rc =
            ::syscall(SYS_execve, "/nonexistent/domus-sandbox-trigger", no_arguments, environ);
        std::fprintf(stderr, "sandbox_trigger: execve returned %ld: not stopped\n", rc);
    }
}

void start_thread() {
    // The thread takes no signals but its commands (the monitor's stop signals are for
    // its own watcher) and SIGSYS: the kernel delivers a blocked SIGSYS as a silent
    // kill, bypassing the sandbox's handler that reports the call. The commands are
    // blocked too, for sigwait; the test sends them to this thread alone.
    sigset_t all, old;
    sigfillset(&all);
    sigdelset(&all, SIGSYS);
    ::pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t thread;
    if (::pthread_create(&thread, nullptr, wait_and_trigger, nullptr) == 0)
        ::pthread_detach(thread);
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

__attribute__((constructor)) void start() {
    const char* armed = std::getenv("DOMUS_SANDBOX_TRIGGER");
    if (!armed || !*armed || !process_matches()) return;
    if (const char* file = std::getenv("DOMUS_SANDBOX_TRIGGER_FILE"))
        std::strncpy(g_file, file, sizeof(g_file) - 1);
    start_thread();
    // domusd's pooled monitors are forks of the pool's parent (monitor_pool.hpp): a fork
    // has the forking thread alone, so each gets a trigger thread of its own.
    ::pthread_atfork(nullptr, nullptr, start_thread);
}

}  // namespace
