// run_process: posix_spawn with three pipes, a poll loop and a kill at the time limit.
#include "process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

extern char** environ;

namespace domus::test {

ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds limit,
                          const std::string& input) {
    ProcessResult result;
    int out[2], err[2], in[2];
    if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || pipe2(in, O_CLOEXEC)) return result;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    std::vector<char*> args;
    for (auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    auto start = std::chrono::steady_clock::now();
    pid_t pid;
    int spawned = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    close(err[1]);
    close(in[0]);
    if (spawned != 0) {
        close(out[0]);
        close(err[0]);
        close(in[1]);
        result.err = std::string("spawn failed: ") + std::strerror(spawned);
        return result;
    }
    if (!input.empty()) [[maybe_unused]]
        auto n = write(in[1], input.data(), input.size());
    close(in[1]);
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        auto left = limit - std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - start);
        if (left.count() <= 0) {
            result.timed_out = true;
            kill(pid, SIGKILL);
            break;
        }
        if (poll(fds, 2, int(left.count())) <= 0) continue;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buffer[4096];
            ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            } else {
                (i == 0 ? result.out : result.err).append(buffer, std::size_t(n));
            }
        }
    }
    for (auto& fd : fds)
        if (fd.fd >= 0) close(fd.fd);
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    result.elapsed = std::chrono::steady_clock::now() - start;
    result.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    return result;
}

std::string proc_text(pid_t pid, const char* file) {
    std::string path = "/proc/" + std::to_string(pid) + "/" + file;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    std::string text;
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(fd, buffer, sizeof buffer)) > 0)
        text.append(buffer, std::size_t(n));
    ::close(fd);
    return n < 0 ? std::string() : text;
}

std::string process_name(pid_t pid) {
    std::string comm = proc_text(pid, "comm");
    if (!comm.empty() && comm.back() == '\n') comm.pop_back();
    return comm;
}

std::vector<std::string> process_argv(pid_t pid) {
    std::string cmdline = proc_text(pid, "cmdline");
    std::vector<std::string> argv;
    for (std::size_t at = 0; at < cmdline.size();) {
        std::size_t end = std::min(cmdline.find('\0', at), cmdline.size());
        argv.push_back(cmdline.substr(at, end - at));
        at = end + 1;
    }
    return argv;
}

std::vector<pid_t> run_dir_processes(const std::string& run_dir) {
    std::vector<pid_t> pids;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
        std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        pid_t pid = std::stoi(name);
        auto argv = process_argv(pid);
        for (std::size_t i = 0; i + 1 < argv.size(); ++i)
            if (argv[i] == "--run-dir" && argv[i + 1] == run_dir) {
                pids.push_back(pid);
                break;
            }
    }
    return pids;
}

long long guest_ram_bytes(pid_t pid) {
    std::string fds = "/proc/" + std::to_string(pid) + "/fd";
    std::error_code error;
    for (auto& fd : std::filesystem::directory_iterator(fds, error)) {
        auto target = std::filesystem::read_symlink(fd.path(), error);
        if (error || target.string().find("memfd:domus-guest-ram") == std::string::npos) continue;
        struct stat st {};
        if (::stat(fd.path().c_str(), &st) == 0) return (long long)st.st_blocks * 512;
    }
    return -1;
}

}  // namespace domus::test
