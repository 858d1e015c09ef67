// HostFiles: open by path, or from the files passed with the request at hand.
#include "base/host_files.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <filesystem>

#include "base/unix_socket.hpp"

namespace domus {

HostFiles& HostFiles::process() {
    static HostFiles files;
    return files;
}

std::string normal_path(const std::string& path) {
    return std::filesystem::path(path).lexically_normal().string();
}

void HostFiles::give_up_paths() {
    std::lock_guard lock(mutex_);
    paths_ = false;
}

bool HostFiles::has_paths() const {
    std::lock_guard lock(mutex_);
    return paths_;
}

const HostFiles::Entry* HostFiles::find_locked(const std::string& path, int flags) const {
    const std::string wanted = normal_path(path);
    const int access = flags & O_ACCMODE;
    for (const auto& entry : passed_) {
        if (entry.file.path != wanted) continue;
        int has = ::fcntl(entry.file.fd.get(), F_GETFL);
        if (has < 0) continue;
        bool mode_fits = (has & O_ACCMODE) == access || (has & O_ACCMODE) == O_RDWR;
        if (mode_fits && (has & O_DIRECT) == (flags & O_DIRECT)) return &entry;
    }
    return nullptr;
}

Result<Fd> HostFiles::open(const std::string& path, int flags, mode_t mode) {
    {
        std::lock_guard lock(mutex_);
        if (!paths_) {
            if (flags & O_CREAT)
                return make_error("open {}: this process creates no files (docs/sandbox.md)", path);
            const Entry* entry = find_locked(path, flags);
            if (!entry)
                return make_error(
                    "open {}: not among the files domusd passed with this request (a sandboxed "
                    "monitor opens no paths itself: docs/sandbox.md)",
                    path);
            Fd copy(::fcntl(entry->file.fd.get(), F_DUPFD_CLOEXEC, 0));
            if (!copy) return errno_error("dup " + path);
            return copy;
        }
    }
    Fd fd(::open(path.c_str(), flags | O_CLOEXEC, mode));
    if (!fd && (flags & O_DIRECT) && errno == EINVAL)
        return Error{fmt::format("open {}: O_DIRECT is not supported by this file system", path),
                     EINVAL};
    if (!fd) return errno_error("open " + path);
    return fd;
}

Result<std::string> HostFiles::real_path(const std::string& path) {
    {
        std::lock_guard lock(mutex_);
        if (!paths_) {
            const std::string wanted = normal_path(path);
            for (const auto& entry : passed_)
                if (entry.file.path == wanted) return entry.file.real_path;
            return make_error("open {}: not among the files domusd passed with this request", path);
        }
    }
    char resolved[PATH_MAX];
    if (!::realpath(path.c_str(), resolved)) return errno_error("open " + path);
    return std::string(resolved);
}

Result<Fd> HostFiles::take(const std::string& name) {
    std::lock_guard lock(mutex_);
    const std::string wanted = normal_path(name);
    for (auto it = passed_.begin(); it != passed_.end(); ++it)
        if (it->file.path == wanted) {
            Fd fd = std::move(it->file.fd);
            passed_.erase(it);
            return fd;
        }
    return make_error("{}: not among what domusd passed with this request", name);
}

Result<Fd> HostFiles::connect(const std::string& path) {
    if (has_paths()) return connect_unix(path);
    auto taken = take(path);
    if (!taken)
        return make_error(
            "connect {}: no connection came with this request (a sandboxed "
            "monitor opens no paths itself: docs/sandbox.md)",
            path);
    return taken;
}

Result<Fd> HostFiles::reopen_read_only(int fd, const std::string& path) {
    if (!has_paths()) {
        Fd copy(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
        if (!copy) return errno_error("dup " + path);
        return copy;
    }
    std::string self_link = "/proc/self/fd/" + std::to_string(fd);
    Fd reopened(::open(self_link.c_str(), O_RDONLY | O_CLOEXEC));
    if (!reopened) return errno_error(path + ": reopen");
    return reopened;
}

HostFiles::Lease HostFiles::lend(std::vector<PassedFile> files) {
    std::lock_guard lock(mutex_);
    std::uint64_t id = next_lease_++;
    for (auto& file : files) {
        file.path = normal_path(file.path);
        passed_.push_back({id, std::move(file)});
    }
    return Lease(this, id);
}

HostFiles::Lease::~Lease() {
    if (!owner_) return;
    std::lock_guard lock(owner_->mutex_);
    std::erase_if(owner_->passed_, [&](const Entry& entry) { return entry.lease == id_; });
}

}  // namespace domus
