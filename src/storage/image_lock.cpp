// ImageLock: QEMU-compatible OFD byte locks on image files, one open file description per
// file and owner, and finding who holds a byte through /proc/<pid>/fdinfo.
#include "storage/image_lock.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <vector>

#include "base/host_files.hpp"

namespace domus::storage {
namespace {

// `length` bytes from `byte` (0: to the end of the file), shared (F_RDLCK) or released
// (F_UNLCK), on the open file description of `fd`.
int set_byte(int fd, off_t byte, short type, off_t length = 1) {
    struct flock lock {};
    lock.l_type = type;
    lock.l_whence = SEEK_SET;
    lock.l_start = byte;
    lock.l_len = length;
    int rc;
    do {
        rc = ::fcntl(fd, F_OFD_SETLK, &lock);
    } while (rc < 0 && errno == EINTR);
    return rc < 0 ? errno : 0;
}

// True when another open file description holds any lock on `byte` (an exclusive lock
// would conflict with it); our own description's locks never count.
Result<bool> byte_taken(int fd, off_t byte) {
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = byte;
    lock.l_len = 1;
    if (::fcntl(fd, F_OFD_GETLK, &lock) < 0) return errno_error("F_OFD_GETLK");
    return lock.l_type != F_UNLCK;
}

const char* holds_phrase(int permission) {
    switch (1u << permission) {
        case perm::kConsistentRead:
            return "reads it";
        case perm::kWrite:
            return "has it open for writing";
        case perm::kWriteUnchanged:
            return "writes to it";
        default:
            return "may resize it";
    }
}

const char* refuses_phrase(int permission) {
    switch (1u << permission) {
        case perm::kConsistentRead:
            return "does not let others read it";
        case perm::kWrite:
        case perm::kWriteUnchanged:
            return "does not let others write to it";
        default:
            return "does not let others resize it";
    }
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::string describe_process(pid_t pid) {
    std::string base = "/proc/" + std::to_string(pid);
    std::vector<std::string> argv;
    std::string cmdline = read_text(base + "/cmdline");
    for (std::size_t at = 0; at < cmdline.size();) {
        std::size_t end = cmdline.find('\0', at);
        if (end == std::string::npos) end = cmdline.size();
        argv.push_back(cmdline.substr(at, end - at));
        at = end + 1;
    }
    std::string program = argv.empty() ? "" : argv[0].substr(argv[0].rfind('/') + 1);
    if (program == "domus-vmm") {
        for (std::size_t i = 1; i + 1 < argv.size(); ++i)
            if (argv[i] == "--name")
                return fmt::format("domain \"{}\" (domus-vmm pid {})", argv[i + 1], pid);
    }
    if (program == "domus" && argv.size() > 1 && argv[1] == "run")
        return fmt::format("domus run (pid {})", pid);
    std::string comm = read_text(base + "/comm");
    while (!comm.empty() && (comm.back() == '\n' || comm.back() == ' '))
        comm.pop_back();
    if (comm.empty()) comm = program.empty() ? "process" : program;
    return fmt::format("{} (pid {})", comm, pid);
}

// Whether one of the "lock:" lines of an fdinfo covers `byte`. A line ends in
// "<start> <end>", end being "EOF" for a lock to the end of the file.
bool fdinfo_locks_byte(const std::string& fdinfo, off_t byte) {
    std::istringstream lines(fdinfo);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.rfind("lock:", 0) != 0) continue;
        std::istringstream words(line);
        std::vector<std::string> tokens;
        for (std::string token; words >> token;)
            tokens.push_back(token);
        if (tokens.size() < 2) continue;
        const std::string& end_text = tokens.back();
        const std::string& start_text = tokens[tokens.size() - 2];
        if (start_text.find_first_not_of("0123456789") != std::string::npos) continue;
        long long start = std::stoll(start_text);
        long long end =
            end_text == "EOF" ? std::numeric_limits<long long>::max() : std::stoll(end_text);
        if (start <= byte && byte <= end) return true;
    }
    return false;
}

}  // namespace

ImageLockTable& ImageLockTable::process() {
    static ImageLockTable table;
    return table;
}

namespace {
constexpr std::string_view kHolderMark = "{lock-holder ";
}  // namespace

std::string describe_lock_holder(dev_t device, ino_t inode, off_t byte, int except_fd,
                                 pid_t except_pid) {
    namespace fs = std::filesystem;
    // Without path access /proc is out of reach: the holder is named by the lock byte,
    // for domusd to fill in (name_lock_holders).
    if (!HostFiles::process().has_paths())
        return fmt::format("{}{} {} {}}}", kHolderMark, device, inode, byte);
    const pid_t self = ::getpid();
    std::error_code error;
    for (const auto& process : fs::directory_iterator("/proc", error)) {
        std::string name = process.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        pid_t pid = std::stoi(name);
        if (pid == except_pid) continue;
        std::error_code fd_error;
        for (const auto& entry : fs::directory_iterator(process.path() / "fd", fd_error)) {
            std::string fd_name = entry.path().filename();
            if (pid == self && fd_name == std::to_string(except_fd)) continue;
            struct stat st {};
            if (::stat(entry.path().c_str(), &st) != 0) continue;
            if (st.st_dev != device || st.st_ino != inode) continue;
            if (fdinfo_locks_byte(read_text(process.path() / "fdinfo" / fd_name), byte))
                return describe_process(pid);
        }
    }
    return "another process";
}

std::string name_lock_holders(std::string text, pid_t except_pid) {
    for (std::size_t at = text.find(kHolderMark); at != std::string::npos;
         at = text.find(kHolderMark, at)) {
        std::size_t end = text.find('}', at);
        if (end == std::string::npos) break;
        std::istringstream fields(
            text.substr(at + kHolderMark.size(), end - at - kHolderMark.size()));
        unsigned long long device = 0, inode = 0;
        long long byte = 0;
        std::string name = "another process";
        if (fields >> device >> inode >> byte)
            name = describe_lock_holder(dev_t(device), ino_t(inode), off_t(byte), -1, except_pid);
        text.replace(at, end + 1 - at, name);
        at += name.size();
    }
    return text;
}

void ImageLockTable::inactivate() {
    std::lock_guard lock(mutex_);
    for (auto& [key, file] : files_)
        for (int i = 0; i < perm::kCount; ++i) {
            set_byte(file.fd.get(), perm::kHeldBase + i, F_UNLCK);
            set_byte(file.fd.get(), perm::kUnsharedBase + i, F_UNLCK);
        }
}

Result<void> ImageLockTable::activate() {
    std::lock_guard lock(mutex_);
    Result<void> result;
    for (auto& [key, file] : files_) {
        for (int i = 0; i < perm::kCount; ++i) {
            if (file.held[i] > 0) set_byte(file.fd.get(), perm::kHeldBase + i, F_RDLCK);
            if (file.unshared[i] > 0) set_byte(file.fd.get(), perm::kUnsharedBase + i, F_RDLCK);
        }
        for (int i = 0; i < perm::kCount && result; ++i) {
            bool conflict = false;
            if (file.held[i] > 0)
                if (auto taken = byte_taken(file.fd.get(), perm::kUnsharedBase + i);
                    taken && *taken)
                    conflict = true;
            if (file.unshared[i] > 0)
                if (auto taken = byte_taken(file.fd.get(), perm::kHeldBase + i); taken && *taken)
                    conflict = true;
            if (conflict)
                result =
                    make_error("image (device {}, inode {}) is in use by {}", key.first, key.second,
                               describe_lock_holder(key.first, key.second, perm::kHeldBase + i,
                                                    file.fd.get()));
        }
    }
    return result;
}

Result<ImageLock> ImageLock::acquire(int fd, const std::string& path, LockPermissions wanted,
                                     ImageLockTable& table) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return errno_error("fstat " + path);
    ImageLockTable::Key key{st.st_dev, st.st_ino};
    std::lock_guard guard(table.mutex_);
    // Not a structured binding: clang 14 cannot capture one in the lambdas below.
    const auto emplaced = table.files_.try_emplace(key);
    const auto it = emplaced.first;
    const bool inserted = emplaced.second;
    ImageLockTable::File& file = it->second;
    if (inserted) {
        // A description of our own, read-only, holding nothing but the lock bytes: the
        // image's fd may close before another holder's, and finding holders through
        // /proc must not mistake the image's fd for one.
        auto reopened = HostFiles::process().reopen_read_only(fd, path);
        if (!reopened) {
            table.files_.erase(it);
            return make_error("lock {}", reopened.error().message);
        }
        file.fd = std::move(reopened).value();
    }
    const int lock_fd = file.fd.get();
    const int write = std::countr_zero(perm::kWrite);
    if ((wanted.held & perm::kWrite) && file.held[write] > 0)
        return make_error("{} is already open for writing in this process, {}", path,
                          describe_process(::getpid()));
    // The bytes this holder adds (nobody of this owner had them yet), undone on refusal.
    std::vector<off_t> added;
    auto undo = [&] {
        for (off_t byte : added)
            set_byte(lock_fd, byte, F_UNLCK);
        if (file.holders == 0) table.files_.erase(it);
    };
    auto take = [&](bool wanted_bit, int count, off_t byte) -> Result<void> {
        if (!wanted_bit || count > 0) return {};
        if (int err = set_byte(lock_fd, byte, F_RDLCK); err != 0) {
            // Only an exclusive lock on the byte stops a shared one: QEMU never leaves
            // one, so whoever did is not sharing anything with us either.
            return errno_error(fmt::format("lock {} (byte {})", path, byte), err);
        }
        added.push_back(byte);
        return {};
    };
    for (int i = 0; i < perm::kCount; ++i) {
        unsigned bit = 1u << i;
        auto held = take(wanted.held & bit, file.held[i], perm::kHeldBase + i);
        auto unshared =
            held ? take(!(wanted.shared & bit), file.unshared[i], perm::kUnsharedBase + i) : held;
        if (!unshared) {
            undo();
            return std::move(unshared).error();
        }
    }
    // Then look for other owners: first one holding what we do not share (the clearest
    // message: "has it open for writing"), then one refusing what we want.
    auto refuse = [&](off_t byte, const char* phrase) -> Error {
        std::string holder = describe_lock_holder(key.first, key.second, byte, lock_fd);
        undo();
        return make_error("{} is in use by {}, which {}", path, holder, phrase);
    };
    for (int i = 0; i < perm::kCount; ++i) {
        if (wanted.shared & (1u << i)) continue;
        auto taken = byte_taken(lock_fd, perm::kHeldBase + i);
        if (!taken) {
            undo();
            return make_error("lock {}: {}", path, taken.error().message);
        }
        if (*taken) return refuse(perm::kHeldBase + i, holds_phrase(i));
    }
    for (int i = 0; i < perm::kCount; ++i) {
        if (!(wanted.held & (1u << i))) continue;
        auto taken = byte_taken(lock_fd, perm::kUnsharedBase + i);
        if (!taken) {
            undo();
            return make_error("lock {}: {}", path, taken.error().message);
        }
        if (*taken) return refuse(perm::kUnsharedBase + i, refuses_phrase(i));
    }
    for (int i = 0; i < perm::kCount; ++i) {
        if (wanted.held & (1u << i)) ++file.held[i];
        if (!(wanted.shared & (1u << i))) ++file.unshared[i];
    }
    ++file.holders;
    return ImageLock(&table, key, wanted);
}

ImageLock& ImageLock::operator=(ImageLock&& other) noexcept {
    if (this != &other) {
        release();
        table_ = std::exchange(other.table_, nullptr);
        key_ = other.key_;
        wanted_ = other.wanted_;
    }
    return *this;
}

void ImageLock::release() {
    if (!table_) return;
    ImageLockTable& table = *std::exchange(table_, nullptr);
    std::lock_guard guard(table.mutex_);
    auto it = table.files_.find(key_);
    if (it == table.files_.end()) return;
    ImageLockTable::File& file = it->second;
    if (--file.holders == 0) {
        // Released before the close, not by it: a child being spawned this moment has a
        // copy of our fds until its exec, and keeps the description (and its locks)
        // alive that long.
        set_byte(file.fd.get(), 0, F_UNLCK, 0);
        table.files_.erase(it);
        return;
    }
    for (int i = 0; i < perm::kCount; ++i) {
        unsigned bit = 1u << i;
        if ((wanted_.held & bit) && --file.held[i] == 0)
            set_byte(file.fd.get(), perm::kHeldBase + i, F_UNLCK);
        if (!(wanted_.shared & bit) && --file.unshared[i] == 0)
            set_byte(file.fd.get(), perm::kUnsharedBase + i, F_UNLCK);
    }
}

}  // namespace domus::storage
