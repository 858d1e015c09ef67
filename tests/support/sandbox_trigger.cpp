// Sandbox trigger (a test library put into a monitor with LD_PRELOAD): makes a system
// call the monitor's sandbox forbids when the test says so, with no hook in the product.
//
// DOMUS_SANDBOX_TRIGGER          a UNIX socket the test listens on. A thread started
//                                before main() connects (once a pooled monitor is
//                                given its domain), reads one byte and then calls
//                                execve of a path that does not exist: forbidden under the
//                                sandbox, so the monitor dies of SIGSYS; without it the call
//                                fails harmlessly (ENOENT) and the shim says so on stderr.
// DOMUS_SANDBOX_TRIGGER_PROCESS  active only in processes whose executable has this base
//                                name (domus-vmm, or domus for `domus run`).
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
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

// The process's argument memory (what /proc/self/cmdline shows), read in place: a
// monitor under domusd opens no paths once its sandbox is in (docs/sandbox.md).
const char* g_arguments = nullptr;
const char* g_arguments_end = nullptr;
const char* g_socket = nullptr;

// A pooled monitor (`domus-vmm --warm`, domusd's pool) waits until it is given a domain,
// which rewrites its command line: the test means the domain's monitor, and the pool's
// others would otherwise take the byte.
bool warm() {
    for (const char* at = g_arguments; at && at < g_arguments_end; at += std::strlen(at) + 1)
        if (std::strcmp(at, "--warm") == 0) return true;
    return false;
}

// One command per connection: "x" makes the forbidden call; "o<path>" tries to open and
// to remove <path> (a compromised monitor going after a host file) and reports how
// each went on stderr, then waits for the next connection.
void* wait_and_trigger(void*) {
    while (warm())
        ::usleep(5000);
    for (;;) {
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::strncpy(address.sun_path, g_socket, sizeof(address.sun_path) - 1);
        if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
            return nullptr;
        char command[512] = {};
        ssize_t n = ::read(fd, command, sizeof command - 1);
        ::close(fd);
        if (n < 1) return nullptr;
        if (command[0] == 'o') {
            const char* path = command + 1;
            int file = ::open(path, O_RDONLY | O_CLOEXEC);
            std::fprintf(stderr, "sandbox_trigger: open %s: %s\n", path,
                         file >= 0 ? "opened" : std::strerror(errno));
            if (file >= 0) ::close(file);
            int removed = ::unlink(path);
            std::fprintf(stderr, "sandbox_trigger: unlink %s: %s\n", path,
                         removed == 0 ? "removed" : std::strerror(errno));
            continue;
        }
        char* no_arguments[] = {nullptr};
        long rc =
            ::syscall(SYS_execve, "/nonexistent/domus-sandbox-trigger", no_arguments, environ);
        std::fprintf(stderr, "sandbox_trigger: execve returned %ld: not stopped\n", rc);
        return nullptr;
    }
}

// glibc passes a constructor the program's arguments.
__attribute__((constructor)) void start(int argc, char** argv, char**) {
    const char* socket_path = std::getenv("DOMUS_SANDBOX_TRIGGER");
    if (!socket_path || !*socket_path || !process_matches() || argc < 1) return;
    g_socket = socket_path;
    g_arguments = argv[0];
    g_arguments_end = argv[argc - 1] + std::strlen(argv[argc - 1]) + 1;  // back to back
    // The thread takes no signals (the monitor's stop signals are for its own watcher)
    // but SIGSYS: the kernel delivers a blocked SIGSYS as a silent kill, bypassing the
    // sandbox's handler that reports the call.
    sigset_t all, old;
    sigfillset(&all);
    sigdelset(&all, SIGSYS);
    ::pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t thread;
    if (::pthread_create(&thread, nullptr, wait_and_trigger, nullptr) == 0)
        ::pthread_detach(thread);
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

}  // namespace
