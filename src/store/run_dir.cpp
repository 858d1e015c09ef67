// RunDir: folder creation and the pid-file lock.
#include "store/run_dir.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace domus::store {
namespace {

Result<void> make_dir(const std::string& path, mode_t mode) {
    if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return errno_error("mkdir " + path);
    struct stat info;
    if (::stat(path.c_str(), &info) != 0) return errno_error("stat " + path);
    if (!S_ISDIR(info.st_mode)) return make_error("{} exists and is not a directory", path);
    return {};
}

}  // namespace

Result<RunDir> RunDir::open(const std::string& run_dir) {
    DOMUS_TRY_VOID(make_dir(run_dir, 0755));
    std::string path = run_dir + "/xenstored";
    DOMUS_TRY_VOID(make_dir(path, 0700));
    if (::chmod(path.c_str(), 0700) != 0) return errno_error("chmod " + path);

    std::string pid_path = path + "/xenstored.pid";
    Fd pid_file(::open(pid_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!pid_file) return errno_error("open " + pid_path);
    if (::flock(pid_file.get(), LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        char text[32] = {};
        [[maybe_unused]] auto n = ::pread(pid_file.get(), text, sizeof(text) - 1, 0);
        Error error =
            err == EWOULDBLOCK
                ? make_error("another domus-xenstored (pid {}) is running for {}",
                             std::string_view(text).substr(0, std::string_view(text).find('\n')),
                             run_dir)
                : errno_error("flock " + pid_path, err);
        error.code = err;
        return error;
    }
    std::string pid = fmt::format("{}\n", ::getpid());
    if (::ftruncate(pid_file.get(), 0) != 0 ||
        ::pwrite(pid_file.get(), pid.data(), pid.size(), 0) != ssize_t(pid.size()))
        return errno_error("write " + pid_path);
    return RunDir(std::move(path), std::move(pid_file));
}

}  // namespace domus::store
