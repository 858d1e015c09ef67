// HostFiles: how this process reaches files by path. Normally the file system itself. A
// monitor under domusd gives that up once its domain is built (docs/sandbox.md): its
// seccomp filter refuses every call that takes a path to open, create, rename or remove,
// and the files a request needs (a hot-plugged disk and its backing chain, a snapshot's
// overlay, /dev/net/tun) come with the request, opened by domusd, which decides what the
// monitor may reach. Every open by path in the monitor's libraries goes through here.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "base/fd.hpp"
#include "base/result.hpp"

namespace domus {

// One file passed with a request: the path the receiver will ask for (as domusd spelled
// it, which is how the receiver's own code spells it: the same resolution of backing
// names runs on both sides), its real path, and the open file. A connection to a socket
// (the store's) is passed under the socket's path, a made TAP as "tap:<ifname>".
struct PassedFile {
    std::string path;
    std::string real_path;
    Fd fd;
};

class HostFiles {
public:
    // The process's one instance (a clearly named singleton: the open calls of storage
    // and the backends reach it from any thread).
    static HostFiles& process();

    HostFiles() = default;
    HostFiles(const HostFiles&) = delete;
    HostFiles& operator=(const HostFiles&) = delete;

    // open(2) by path, or, without path access, a new fd of the passed file `path` whose
    // access mode allows `flags`' (read-only from one opened read-write) and whose O_DIRECT
    // is `flags`'. O_CREAT is never granted that way. A file system without O_DIRECT
    // is named as such (EINVAL).
    Result<Fd> open(const std::string& path, int flags, mode_t mode = 0);
    // realpath(3), or the real path domusd gave with the passed file.
    Result<std::string> real_path(const std::string& path);
    // A connection to the UNIX stream socket `path`; without path access, the connection
    // passed under that path (taken: one connection serves one caller).
    Result<Fd> connect(const std::string& path);
    // The passed fd named `name` (a made TAP: "tap:<ifname>"), taken; an error if none.
    Result<Fd> take(const std::string& name);
    // Another open file description of what `fd` refers to, read-only, for lock bytes of
    // its own (storage/image_lock.cpp); without path access, a duplicate of `fd`.
    Result<Fd> reopen_read_only(int fd, const std::string& path);

    // From now on every file comes passed (enter_sandbox's file-access mode). One way.
    void give_up_paths();
    bool has_paths() const;

    // The passed files of one request, available until the returned handle goes.
    class Lease {
    public:
        Lease(Lease&& other) noexcept
            : owner_(std::exchange(other.owner_, nullptr)), id_(other.id_) {}
        Lease& operator=(Lease&&) = delete;
        ~Lease();

    private:
        friend class HostFiles;
        Lease(HostFiles* owner, std::uint64_t id) : owner_(owner), id_(id) {}
        HostFiles* owner_;
        std::uint64_t id_;
    };
    Lease lend(std::vector<PassedFile> files);

private:
    struct Entry {
        std::uint64_t lease;
        PassedFile file;
    };
    const Entry* find_locked(const std::string& path, int flags) const;

    mutable std::mutex mutex_;
    bool paths_ = true;
    std::uint64_t next_lease_ = 1;
    std::vector<Entry> passed_;
};

// Lexically normal form of a path (no "." or "..", no doubled '/'): how passed files are
// matched.
std::string normal_path(const std::string& path);

}  // namespace domus
