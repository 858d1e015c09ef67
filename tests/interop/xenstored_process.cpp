// XenstoredProcess: spawn with a readiness pipe, SIGTERM and a pidfd wait at the end.
#include "xenstored_process.hpp"

#include <domus/abi/xs_wire.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "base/unix_socket.hpp"

extern char** environ;

namespace domus::test {
namespace {

constexpr int kReadyFd = 3;  // the daemon's --ready-fd

// Waits up to `limit` for `fd` to become readable; false on timeout.
bool readable_within(int fd, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{fd, POLLIN, 0};
        int ready = ::poll(&p, 1, int(std::max<std::int64_t>(left.count(), 0)));
        if (ready > 0) return true;
        if (ready == 0 || errno != EINTR) return false;
    }
}

}  // namespace

XenstoredProcess::XenstoredProcess(const std::string& binary, std::string run_dir,
                                   std::chrono::milliseconds limit,
                                   const std::vector<std::string>& extra)
    : run_dir_(std::move(run_dir)) {
    if (run_dir_.empty()) {
        char pattern[] = "/tmp/domus-xs-XXXXXX";
        if (!::mkdtemp(pattern)) return;
        run_dir_ = pattern;
        owns_run_dir_ = true;
    }
    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) != 0) return;
    Fd ready_read(ready[0]), ready_write(ready[1]);
    std::string log_path = run_dir_ + "/daemon.log";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    posix_spawn_file_actions_adddup2(&actions, ready_write.get(), kReadyFd);  // clears CLOEXEC
    std::vector<std::string> argv = {binary, "--run-dir", run_dir_, "--ready-fd",
                                     std::to_string(kReadyFd)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::vector<char*> args;
    for (auto& a : argv)
        args.push_back(a.data());
    args.push_back(nullptr);
    pid_t pid;
    int spawned = posix_spawn(&pid, binary.c_str(), &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) return;
    pid_ = pid;
    exited_ = Fd(int(::syscall(SYS_pidfd_open, pid_, 0)));
    ready_write.reset();  // so that the daemon exiting early reads as EOF
    char line[8];
    if (readable_within(ready_read.get(), limit) &&
        ::read(ready_read.get(), line, sizeof(line)) > 0)
        return;
    stop();  // exited early (EOF) or not serving in time; log() says why
}

XenstoredProcess::~XenstoredProcess() {
    if (running()) stop();
    if (owns_run_dir_) {
        std::error_code ignored;
        std::filesystem::remove_all(run_dir_, ignored);
    }
}

std::string XenstoredProcess::log() const {
    std::ifstream file(run_dir_ + "/daemon.log");
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
}

int XenstoredProcess::stop(std::chrono::milliseconds limit) {
    if (!running()) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    bool exited = exited_ && readable_within(exited_.get(), limit);
    if (!exited) ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    exited_.reset();
    if (!exited) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Fd connect_unix(const std::string& path, int type) {
    auto fd = domus::connect_unix(path, type);
    return fd ? std::move(*fd) : Fd();
}

std::string xs_call(int socket, std::uint32_t type, const std::string& payload,
                    std::uint32_t tx_id) {
    xsd_sockmsg header{type, 0, tx_id, std::uint32_t(payload.size())};
    std::string request(reinterpret_cast<const char*>(&header), sizeof(header));
    if (!send_all(socket, request + payload)) return "ERR:write";
    while (true) {  // skip watch events
        if (!receive_all(socket, &header, sizeof(header))) return "ERR:read";
        std::string reply(header.len, '\0');
        if (!receive_all(socket, reply.data(), reply.size())) return "ERR:read";
        if (header.type == XS_WATCH_EVENT) continue;
        if (header.type == XS_ERROR) return "ERR:" + reply.substr(0, reply.find('\0'));
        return reply;
    }
}

}  // namespace domus::test
