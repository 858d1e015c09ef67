// JSON-lines helpers.
#include "toolstack/json_socket.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

namespace domus::toolstack {

Result<void> send_json(int fd, const nlohmann::json& message) {
    return send_all(fd, message.dump() + "\n");
}

Result<void> send_json(int fd, const nlohmann::json& message, std::span<const int> fds) {
    if (fds.empty()) return send_json(fd, message);
    std::string line = message.dump() + "\n";
    DOMUS_TRY(sent, send_with_fds(fd, line, fds));
    return send_all(fd, std::string_view(line).substr(sent));
}

Result<nlohmann::json> receive_json(int fd, std::string& pending, std::chrono::milliseconds timeout,
                                    std::vector<Fd>* fds) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (auto at = pending.find('\n'); at != std::string::npos) {
            std::string line = pending.substr(0, at);
            pending.erase(0, at + 1);
            auto message = nlohmann::json::parse(line, nullptr, false);
            if (message.is_discarded() || !message.is_object())
                return make_error("malformed reply: {}", line);
            return message;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return make_error("timed out waiting for a reply");
        pollfd p{fd, POLLIN, 0};
        int ready = ::poll(&p, 1, int(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) continue;
        char buffer[4096];
        iovec io{buffer, sizeof(buffer)};
        alignas(cmsghdr) char control[CMSG_SPACE(kMaxPassedFds * sizeof(int))];
        msghdr message{};
        message.msg_iov = &io;
        message.msg_iovlen = 1;
        message.msg_control = fds ? control : nullptr;
        message.msg_controllen = fds ? sizeof(control) : 0;
        ssize_t n = ::recvmsg(fd, &message, MSG_CMSG_CLOEXEC);
        if (n > 0 && fds) take_passed_fds(message, *fds);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) return make_error("connection closed");
        if (n < 0) return errno_error("recv");
        pending.append(buffer, std::size_t(n));
        if (pending.size() > (1u << 24)) return make_error("reply too long");
    }
}

Result<nlohmann::json> json_request(const std::string& path, const nlohmann::json& request,
                                    std::chrono::milliseconds timeout, std::span<const int> fds) {
    DOMUS_TRY(fd, connect_unix(path));
    DOMUS_TRY_VOID(send_json(fd.get(), request, fds));
    std::string pending;
    DOMUS_TRY(reply, receive_json(fd.get(), pending, timeout));
    if (!reply.value("ok", false))
        return make_error("{}", reply.value("error", std::string("request failed")));
    return reply;
}

}  // namespace domus::toolstack
