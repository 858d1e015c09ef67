// listen_unix: bind + listen on a Unix socket path, owner-only.
#include "store/unix_listener.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace domus::store {

Result<Fd> listen_unix(const std::string& path, int type) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof(address.sun_path))
        return make_error("socket path too long ({} bytes): {}", path.size(), path);
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    Fd fd(::socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return errno_error("socket");
    ::unlink(path.c_str());  // stale: the caller holds the run dir's pid-file lock
    // umask makes the file 0600 at bind time: no window in which others could connect.
    mode_t old_mask = ::umask(0177);
    int bound = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address));
    ::umask(old_mask);
    if (bound != 0) return errno_error("bind " + path);
    if (::listen(fd.get(), 128) != 0) return errno_error("listen " + path);
    return fd;
}

}  // namespace domus::store
