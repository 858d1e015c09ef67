// UnixListener: a listening AF_UNIX socket in the daemon's EventLoop that accepts every
// waiting connection and hands it to its owner. Both daemon sockets are one of these.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "base/fd.hpp"
#include "base/result.hpp"
#include "store/event_loop.hpp"

namespace domus::store {

class UnixListener {
public:
    // Gets each accepted connection: non-blocking, close-on-exec, owned by the callee.
    // If it throws, that connection is closed (and the reason logged), no other.
    using OnAccept = std::function<void(Fd connection)>;

    // Binds `path` with mode 0600 (a stale file there is removed first; the caller holds
    // the run dir's pid-file lock), listens, and accepts into `on_accept` from `loop`.
    static Result<std::unique_ptr<UnixListener>> listen(EventLoop& loop, std::string path, int type,
                                                        OnAccept on_accept);
    // The same on an already listening socket (from the fd keeper after a restart).
    static Result<std::unique_ptr<UnixListener>> adopt(EventLoop& loop, std::string path,
                                                       Fd listening, OnAccept on_accept);
    ~UnixListener();  // stops accepting and removes the socket file
    UnixListener(const UnixListener&) = delete;
    UnixListener& operator=(const UnixListener&) = delete;

    int fd() const noexcept { return fd_.get(); }

private:
    UnixListener(EventLoop& loop, std::string path, Fd fd, OnAccept on_accept);
    void accept_all();

    EventLoop& loop_;
    std::string path_;
    Fd fd_;
    OnAccept on_accept_;
    EventLoop::Token token_ = 0;
};

}  // namespace domus::store
