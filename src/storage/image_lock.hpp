// ImageLock: the advisory lock an open disk image holds so that two domains (or a domain
// and qemu-img) never write one image at once; QEMU's own lock bytes, so both see each other.
#pragma once

#include <sys/types.h>

#include <array>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "base/fd.hpp"
#include "base/result.hpp"

namespace domus::storage {

// QEMU's block permissions (BLK_PERM_* in include/block/block-common.h): bit i of a set
// stands for permission i. file-posix turns each into OFD byte locks (F_RDLCK only):
//   byte kHeldBase + i    "I hold permission i"
//   byte kUnsharedBase + i "I do not let anyone else hold permission i"
// and a newcomer, after taking its own bytes, tests (F_OFD_GETLK, F_WRLCK) the unshared
// byte of every permission it wants and the held byte of every one it does not share.
// Taking first and testing second means two that race both fail; neither gets through.
namespace perm {
inline constexpr unsigned kConsistentRead = 0x01;
inline constexpr unsigned kWrite = 0x02;
inline constexpr unsigned kWriteUnchanged = 0x04;
inline constexpr unsigned kResize = 0x08;
inline constexpr unsigned kAll = 0x0f;
inline constexpr int kCount = 4;
inline constexpr off_t kHeldBase = 100;      // QEMU's RAW_LOCK_PERM_BASE
inline constexpr off_t kUnsharedBase = 200;  // QEMU's RAW_LOCK_SHARED_BASE
}  // namespace perm

struct LockPermissions {
    unsigned held = 0;    // what this opener does with the image
    unsigned shared = 0;  // what it lets others do at the same time
};

// A guest disk or backing file opened read-only: what QEMU takes for a read-only drive
// or a backing file. Readers share with readers and refuse writers.
inline constexpr LockPermissions kReaderLock{perm::kConsistentRead,
                                             perm::kConsistentRead | perm::kWriteUnchanged};
// The writable top of a chain: what QEMU's file node under a guest drive takes; qcow2
// also grows its file (resize), a raw image keeps its size.
inline constexpr LockPermissions kWriterLock{perm::kConsistentRead | perm::kWrite | perm::kResize,
                                             perm::kConsistentRead | perm::kWriteUnchanged};
inline constexpr LockPermissions kRawWriterLock{perm::kConsistentRead | perm::kWrite,
                                                perm::kConsistentRead | perm::kWriteUnchanged};

// The lock bytes one owner holds: one open file description per image file (dev, inode),
// whatever number of images of that owner have the file open. Within one owner only a
// second writer is refused (one disk twice in a domain); readers beside a writer are
// not: a snapshot swap opens the old top as the new overlay's backing file while the
// old top is still open for writing, as QEMU turns one node from top into backing.
// Every process has one owner, ImageLockTable::process(); tests make more to play two
// processes in one.
class ImageLockTable {
public:
    ImageLockTable() = default;
    ImageLockTable(const ImageLockTable&) = delete;
    ImageLockTable& operator=(const ImageLockTable&) = delete;

    static ImageLockTable& process();
    // Migration's hand-over of shared storage (as QEMU inactivates its images): every
    // lock byte this owner holds is let go while the destination opens the images, and
    // taken again when the migration failed and the domain goes on here. activate()
    // fails, naming the image, when another owner now holds what this one needs.
    void inactivate();
    Result<void> activate();

private:
    friend class ImageLock;
    using Key = std::pair<dev_t, ino_t>;
    struct File {
        Fd fd;                                 // the open file description the bytes are locked on
        std::array<int, perm::kCount> held{};  // how many holders hold each permission
        std::array<int, perm::kCount> unshared{};  // ... and refuse to share it
        int holders = 0;
    };
    std::mutex mutex_;
    std::map<Key, File> files_;
};

// Held by an open image for its lifetime; released (the bytes no other holder of the
// same owner needs are unlocked) on destruction.
class ImageLock {
public:
    // Locks the file `fd` refers to (`path` names it in errors). Refused when another
    // owner holds a permission we do not share or refuses one we want; the error names
    // the image and who holds it: `disk.qcow2 is in use by domain "web" (domus-vmm pid
    // 1234), which has it open for writing`.
    static Result<ImageLock> acquire(int fd, const std::string& path, LockPermissions wanted,
                                     ImageLockTable& table = ImageLockTable::process());

    ImageLock() = default;
    ImageLock(ImageLock&& other) noexcept { *this = std::move(other); }
    ImageLock& operator=(ImageLock&& other) noexcept;
    ImageLock(const ImageLock&) = delete;
    ImageLock& operator=(const ImageLock&) = delete;
    ~ImageLock() { release(); }

    bool held() const { return table_ != nullptr; }
    LockPermissions permissions() const { return wanted_; }
    void release();

private:
    ImageLock(ImageLockTable* table, ImageLockTable::Key key, LockPermissions wanted)
        : table_(table), key_(key), wanted_(wanted) {}

    ImageLockTable* table_ = nullptr;
    ImageLockTable::Key key_{};
    LockPermissions wanted_{};
};

// Who holds lock byte `byte` of the file (dev, inode), other than the open file
// description `except_fd` of this process: `domain "web" (domus-vmm pid 1234)`,
// `domus run (pid 99)`, `qemu-io (pid 77)`, or "another process" when /proc does not
// tell (another user's process). OFD locks show pid -1 in /proc/locks, so this looks
// through /proc/<pid>/fdinfo for an fd of that file with a lock over the byte. Every fd of
// process `except_pid` is passed over too. In a process without path access (a sandboxed
// monitor, base/host_files.hpp), which cannot read /proc, the holder is a mark naming
// the file and byte instead: `{lock-holder <dev> <inode> <byte>}`.
std::string describe_lock_holder(dev_t device, ino_t inode, off_t byte, int except_fd = -1,
                                 pid_t except_pid = -1);
// `text` (a sandboxed monitor's error) with each lock-holder mark replaced by the holder's
// name, passing over the fds of `except_pid` (that monitor's own).
std::string name_lock_holders(std::string text, pid_t except_pid);

}  // namespace domus::storage
