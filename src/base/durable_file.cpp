// replace_file_durably: write, fsync, rename, fsync the directory; replace_file_atomically:
// the same without the fsyncs.
#include "base/durable_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "base/fd.hpp"

namespace domus {

namespace {

Result<void> write_whole(const std::string& temporary, std::string_view content, bool flush) {
    Fd file(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!file) return errno_error("create " + temporary);
    while (!content.empty()) {
        ssize_t n = ::write(file.get(), content.data(), content.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return errno_error("write " + temporary);
        content.remove_prefix(std::size_t(n));
    }
    if (flush && ::fsync(file.get()) < 0) return errno_error("fsync " + temporary);
    return {};
}

Result<void> replace_file(const std::string& path, std::string_view content, bool flush) {
    // A temporary of this thread's own: writers of one path in other processes (or
    // threads) never write into each other's.
    std::string temporary = path + ".tmp." + std::to_string(::gettid());
    auto written = write_whole(temporary, content, flush);
    if (written && ::rename(temporary.c_str(), path.c_str()) < 0)
        written = errno_error("rename " + path);
    if (!written) {
        ::unlink(temporary.c_str());
        return written;
    }
    if (!flush) return {};
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    Fd directory(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!directory || ::fsync(directory.get()) < 0) return errno_error("fsync " + dir);
    return {};
}

}  // namespace

Result<void> replace_file_durably(const std::string& path, std::string_view content) {
    return replace_file(path, content, true);
}

Result<void> replace_file_atomically(const std::string& path, std::string_view content) {
    return replace_file(path, content, false);
}

}  // namespace domus
