// XenstoreWatch: posix_spawn with a stdout pipe; lines read with poll and a deadline.
#include "xenstore_watch.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>

extern char** environ;

namespace domus::test {

XenstoreWatch::XenstoreWatch(const XenstoredProcess& daemon, const std::vector<std::string>& args) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return;
    out_ = Fd(out[0]);
    Fd write_end(out[1]);
    std::vector<std::string> argv = {"/usr/bin/env", "XENSTORED_PATH=" + daemon.tool_socket(),
                                     "/usr/bin/xenstore-watch"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> pointers;
    for (auto& arg : argv)
        pointers.push_back(arg.data());
    pointers.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
    pid_t pid;
    if (posix_spawn(&pid, pointers[0], &actions, nullptr, pointers.data(), environ) == 0)
        pid_ = pid;
    posix_spawn_file_actions_destroy(&actions);
}

XenstoreWatch::~XenstoreWatch() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
}

XenstoreWatch::Read XenstoreWatch::read_more(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (!out_ || left.count() <= 0) return Read::Timeout;
        pollfd p{out_.get(), POLLIN, 0};
        int ready = ::poll(&p, 1, int(left.count()));
        if (ready <= 0) continue;  // EINTR or the deadline: the loop decides
        char bytes[4096];
        ssize_t n = ::read(out_.get(), bytes, sizeof(bytes));
        if (n <= 0) return Read::End;  // its stdout closes when it exits
        buffer_.append(bytes, std::size_t(n));
        return Read::Some;
    }
}

std::optional<std::string> XenstoreWatch::next_line(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        if (auto end = buffer_.find('\n'); end != std::string::npos) {
            std::string line = buffer_.substr(0, end);
            buffer_.erase(0, end + 1);
            return line;
        }
        if (read_more(deadline) != Read::Some) return std::nullopt;
    }
}

int XenstoreWatch::exit_status(std::chrono::milliseconds limit) {
    if (pid_ <= 0) return -1;
    auto deadline = std::chrono::steady_clock::now() + limit;
    Read read;
    while ((read = read_more(deadline)) == Read::Some) {
    }
    if (read != Read::End) ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(std::exchange(pid_, -1), &status, 0);
    if (read != Read::End) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace domus::test
