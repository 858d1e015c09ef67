// UnixListener: listen_unix, then accept4 until EAGAIN on every readable event.
#include "store/unix_listener.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>

#include "base/log.hpp"
#include "base/unix_socket.hpp"

namespace domus::store {

Result<std::unique_ptr<UnixListener>> UnixListener::listen(EventLoop& loop, std::string path,
                                                           int type, OnAccept on_accept) {
    DOMUS_TRY(fd, listen_unix(path, type));
    return adopt(loop, std::move(path), std::move(fd), std::move(on_accept));
}

Result<std::unique_ptr<UnixListener>> UnixListener::adopt(EventLoop& loop, std::string path,
                                                          Fd listening, OnAccept on_accept) {
    std::unique_ptr<UnixListener> listener(
        new UnixListener(loop, std::move(path), std::move(listening), std::move(on_accept)));
    DOMUS_TRY(token, loop.add(listener->fd_.get(), EPOLLIN,
                              [l = listener.get()](std::uint32_t) { l->accept_all(); }));
    listener->token_ = token;
    return listener;
}

UnixListener::UnixListener(EventLoop& loop, std::string path, Fd fd, OnAccept on_accept)
    : loop_(loop), path_(std::move(path)), fd_(std::move(fd)), on_accept_(std::move(on_accept)) {}

UnixListener::~UnixListener() {
    loop_.remove(token_);
    ::unlink(path_.c_str());
}

void UnixListener::accept_all() {
    while (true) {
        Fd connection(::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!connection) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                DOMUS_LOG_WARN("xenstored", "accept on {}: {}", path_, std::strerror(errno));
            return;
        }
        try {
            on_accept_(std::move(connection));
        } catch (const std::exception& e) {  // that connection is closed, the others live on
            DOMUS_LOG_WARN("xenstored", "{}: connection refused: {}", path_, e.what());
        } catch (...) {
            DOMUS_LOG_WARN("xenstored", "{}: connection refused", path_);
        }
    }
}

}  // namespace domus::store
