// spawn_detached: posix_spawn with a new session and redirected standard streams.
#include "toolstack/spawn.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "base/fd.hpp"

extern char** environ;

namespace domus::toolstack {
namespace {

// posix_spawn with what every child of the daemon needs: the daemon ignores SIGCHLD and
// SIGPIPE and blocks its stop signals, so the child starts with default dispositions and
// nothing blocked (an inherited SIG_IGN for SIGCHLD would break a shell's $?). 0 or errno.
int spawn(pid_t* pid, const std::vector<std::string>& argv,
          const posix_spawn_file_actions_t& actions, short extra_flags) {
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attributes, &none);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int signal : {SIGCHLD, SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2})
        sigaddset(&defaults, signal);
    posix_spawnattr_setsigdefault(&attributes, &defaults);
    posix_spawnattr_setflags(&attributes,
                             short(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | extra_flags));
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int error = posix_spawn(pid, args[0], &actions, &attributes, args.data(), environ);
    posix_spawnattr_destroy(&attributes);
    return error;
}

}  // namespace

Result<pid_t> spawn_detached(const std::vector<std::string>& argv, const std::string& log_path,
                             int inherited_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (inherited_fd >= 0) posix_spawn_file_actions_adddup2(&actions, inherited_fd, 3);
    pid_t pid = 0;
    int error = spawn(&pid, argv, actions, POSIX_SPAWN_SETSID);
    posix_spawn_file_actions_destroy(&actions);
    if (error) return errno_error(fmt::format("start {}", argv[0]), error);
    return pid;
}

bool wait_for_exit(pid_t pid, std::chrono::milliseconds timeout) {
    Fd pidfd(int(::syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd) return errno == ESRCH;  // gone already (or never there)
    pollfd p{pidfd.get(), POLLIN, 0};
    int ready;
    do {
        ready = ::poll(&p, 1, int(timeout.count()));
    } while (ready < 0 && errno == EINTR);
    return ready > 0;
}

namespace {

std::string find_tool(const std::string& name) {
    if (name.find('/') != std::string::npos) return name;
    for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"}) {
        std::string path = dir + name;
        if (::access(path.c_str(), X_OK) == 0) return path;
    }
    return name;
}

}  // namespace

Result<std::string> run_tool(const std::vector<std::string>& argv, const std::string& input,
                             std::chrono::milliseconds timeout) {
    std::string command;
    for (const auto& a : argv)
        command += (command.empty() ? "" : " ") + a;
    int in[2], out[2], status[2];
    if (::pipe2(in, O_CLOEXEC) < 0) return errno_error("pipe");
    Fd in_read(in[0]), in_write(in[1]);
    if (::pipe2(out, O_CLOEXEC) < 0) return errno_error("pipe");
    Fd out_read(out[0]), out_write(out[1]);
    if (::pipe2(status, O_CLOEXEC) < 0) return errno_error("pipe");
    Fd status_read(status[0]), status_write(status[1]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_read.get(), 0);
    posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
    posix_spawn_file_actions_adddup2(&actions, out_write.get(), 2);
    posix_spawn_file_actions_adddup2(&actions, status_write.get(), 3);
    std::vector<std::string> shell = {"/bin/sh", "-c", "\"$@\"; echo $? >&3", "sh",
                                      find_tool(argv.at(0))};
    shell.insert(shell.end(), argv.begin() + 1, argv.end());
    pid_t pid = 0;
    // A group of its own, so a tool that hangs goes with its shell.
    int error = spawn(&pid, shell, actions, POSIX_SPAWN_SETPGROUP);
    posix_spawn_file_actions_destroy(&actions);
    if (error) return errno_error(fmt::format("start {}", command), error);
    in_read.reset();
    out_write.reset();
    status_write.reset();
    // Small inputs and outputs (a ruleset, a line of addresses): the pipes hold them.
    if (!input.empty()) [[maybe_unused]]
        auto n = ::write(in_write.get(), input.data(), input.size());
    in_write.reset();
    std::string output, code;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    pollfd fds[2] = {{out_read.get(), POLLIN, 0}, {status_read.get(), POLLIN, 0}};
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            ::kill(-pid, SIGKILL);
            return make_error("{}: no answer within {} ms", command, timeout.count());
        }
        if (::poll(fds, 2, int(left.count())) < 0 && errno != EINTR) return errno_error("poll");
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !fds[i].revents) continue;
            char buffer[4096];
            ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
            if (n <= 0)
                fds[i].fd = -1;
            else
                (i == 0 ? output : code).append(buffer, std::size_t(n));
        }
    }
    while (!code.empty() && (code.back() == '\n' || code.back() == ' '))
        code.pop_back();
    if (code == "0") return output;
    while (!output.empty() && output.back() == '\n')
        output.pop_back();
    if (output.size() > 300) output = "..." + output.substr(output.size() - 300);
    return make_error("{} failed (status {}): {}", command, code.empty() ? "?" : code, output);
}

std::string executable_dir() {
    char path[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (n <= 0) return ".";
    std::string self(path, std::size_t(n));
    return self.substr(0, self.rfind('/'));
}

}  // namespace domus::toolstack
