// XenstoredProcess: spawn, readiness by connecting, SIGTERM at the end.
#include "xenstored_process.hpp"

#include <domus/abi/xs_wire.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

extern char** environ;

namespace domus::test {

XenstoredProcess::XenstoredProcess(const std::string& binary) {
    char pattern[] = "/tmp/domus-xs-XXXXXX";
    if (!::mkdtemp(pattern)) return;
    run_dir_ = pattern;
    std::string log_path = run_dir_ + "/daemon.log";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    std::vector<std::string> argv = {binary, "--run-dir", run_dir_};
    std::vector<char*> args;
    for (auto& a : argv)
        args.push_back(a.data());
    args.push_back(nullptr);
    pid_t pid;
    int spawned = posix_spawn(&pid, binary.c_str(), &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) return;
    pid_ = pid;
    for (int i = 0; i < 500; ++i) {
        if (connect_unix(tool_socket(), SOCK_STREAM)) return;
        int status;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;  // exited early; log() says why
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop();
}

XenstoredProcess::~XenstoredProcess() {
    if (running()) stop();
    if (!run_dir_.empty()) {
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
    auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            pid_ = -1;
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Fd connect_unix(const std::string& path, int type) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof(address.sun_path)) return Fd();
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    Fd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
    if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0)
        return Fd();
    return fd;
}

namespace {
bool write_all(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        ssize_t n = ::write(fd, data, size);
        if (n <= 0) return false;
        data += n;
        size -= std::size_t(n);
    }
    return true;
}
bool read_all(int fd, char* data, std::size_t size) {
    while (size > 0) {
        ssize_t n = ::read(fd, data, size);
        if (n <= 0) return false;
        data += n;
        size -= std::size_t(n);
    }
    return true;
}
}  // namespace

std::string xs_call(int socket, std::uint32_t type, const std::string& payload,
                    std::uint32_t tx_id) {
    xsd_sockmsg header{type, 0, tx_id, std::uint32_t(payload.size())};
    if (!write_all(socket, reinterpret_cast<char*>(&header), sizeof(header)) ||
        !write_all(socket, payload.data(), payload.size()))
        return "ERR:write";
    while (true) {  // skip watch events
        if (!read_all(socket, reinterpret_cast<char*>(&header), sizeof(header))) return "ERR:read";
        std::string reply(header.len, '\0');
        if (!read_all(socket, reply.data(), reply.size())) return "ERR:read";
        if (header.type == XS_WATCH_EVENT) continue;
        if (header.type == XS_ERROR) return "ERR:" + reply.substr(0, reply.find('\0'));
        return reply;
    }
}

}  // namespace domus::test
