// Fault-injection shim for the block data path, without hooks in the product: loaded with
// LD_PRELOAD (or linked into a unit test), it interposes the libc and liburing calls the
// storage code makes and makes them fail the ways the kernel is allowed to.
//
// DOMUS_FAULTS          comma-separated faults, each `name:probability` (0..1) or `name`:
//                         short         pread/pwrite/preadv/pwritev(2) move less than asked
//                                       (a multiple of 4 KiB on an O_DIRECT fd)
//                         eagain, eintr the same calls fail with EAGAIN / EINTR, moving
//                                       nothing; eintr also hits fdatasync/fsync
//                         no_uring      io_uring_queue_init fails with ENOSYS
//                         no_uring_eperm  ... with EPERM (a seccomp-filtered host)
//                         uring_short   a read(v)/write(v) SQE is cut to fewer bytes (any
//                                       number; 4 KiB multiples on O_DIRECT): a short completion
//                         uring_eagain, uring_eintr  an I/O or fsync SQE becomes a NOP that
//                                       completes with -EAGAIN / -EINTR (IORING_NOP_INJECT_RESULT)
//                         submit_eagain io_uring_submit returns -EAGAIN, submitting nothing
//                         seed=N        the random stream (mixed with the pid when the
//                                       configuration comes from the environment)
// DOMUS_FAULTS_PROCESS  active only in processes whose executable has this base name (the
//                       preload then passes through the test, domusd, qemu-img, ...)
// DOMUS_FAULTS_COUNTERS a file of uint64_t counters (fault_inject.h), mapped shared and
//                       updated atomically: it survives SIGKILL and sums over processes.
#include "fault_inject.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <liburing.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

// The kernel's NOP flag (6.10+; liburing 2.3's header predates it): the NOP completes with
// the value in sqe->len as its result.
constexpr unsigned kNopInjectResult = 1u << 0;
constexpr std::size_t kDirectBlock = 4096;

enum Kind {
    kShort,
    kEagain,
    kEintr,
    kUringShort,
    kUringEagain,
    kUringEintr,
    kSubmitEagain,
    kKinds
};
constexpr const char* kKindNames[kKinds] = {
    "short", "eagain", "eintr", "uring_short", "uring_eagain", "uring_eintr", "submit_eagain"};

struct State {
    std::atomic<bool> active{false};
    double probability[kKinds] = {};
    int no_uring = 0;  // the errno io_uring_queue_init fails with, 0: it does not
    std::atomic<std::uint64_t> random{0};
    std::atomic<std::uint64_t> local[DOMUS_FAULT_COUNTERS] = {};
    std::uint64_t* shared = nullptr;  // the counters file, or null
};

State& state() {
    static State s;
    return s;
}

void bump(domus_fault_counter counter) {
    State& s = state();
    s.local[counter].fetch_add(1, std::memory_order_relaxed);
    if (s.shared) __atomic_fetch_add(&s.shared[counter], 1, __ATOMIC_RELAXED);
}

std::uint64_t next_random() {
    std::uint64_t x = state().random.fetch_add(0x9e3779b97f4a7c15ull, std::memory_order_relaxed);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

bool roll(Kind kind) {
    double p = state().probability[kind];
    if (p <= 0) return false;
    return double(next_random() >> 11) * 0x1.0p-53 < p;
}

// 1 .. n-1, or 0 when n < 2.
std::uint64_t below(std::uint64_t n) {
    return n < 2 ? 0 : 1 + next_random() % (n - 1);
}

void configure(const char* spec, std::uint64_t seed) {
    State& s = state();
    for (double& p : s.probability)
        p = 0;
    s.no_uring = 0;
    std::string text = spec ? spec : "";
    std::size_t at = 0;
    while (at < text.size()) {
        std::size_t end = text.find(',', at);
        if (end == std::string::npos) end = text.size();
        std::string item = text.substr(at, end - at);
        at = end + 1;
        if (item.empty()) continue;
        std::size_t colon = item.find_first_of(":=");
        std::string name = item.substr(0, colon);
        std::string value = colon == std::string::npos ? "" : item.substr(colon + 1);
        if (name == "seed") {
            seed = std::strtoull(value.c_str(), nullptr, 0);
        } else if (name == "no_uring") {
            s.no_uring = ENOSYS;
        } else if (name == "no_uring_eperm") {
            s.no_uring = EPERM;
        } else {
            bool known = false;
            for (int k = 0; k < kKinds; ++k)
                if (name == kKindNames[k]) {
                    s.probability[k] = value.empty() ? 1.0 : std::strtod(value.c_str(), nullptr);
                    known = true;
                }
            if (!known) std::fprintf(stderr, "fault_inject: unknown fault '%s'\n", name.c_str());
        }
    }
    s.random = seed;
    for (auto& c : s.local)
        c = 0;
}

bool process_matches() {
    const char* wanted = std::getenv("DOMUS_FAULTS_PROCESS");
    if (!wanted || !*wanted) return true;
    char path[4096];
    ssize_t n = ::readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (n <= 0) return false;
    path[n] = 0;
    const char* base = std::strrchr(path, '/');
    return std::strcmp(base ? base + 1 : path, wanted) == 0;
}

void map_counters(const char* path) {
    int fd = ::open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    constexpr std::size_t kSize = DOMUS_FAULT_COUNTERS * sizeof(std::uint64_t);
    struct stat st {};
    if (::fstat(fd, &st) == 0 && std::size_t(st.st_size) < kSize) {
        if (::ftruncate(fd, kSize) != 0) {
            ::close(fd);
            return;
        }
    }
    void* p = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p != MAP_FAILED) state().shared = static_cast<std::uint64_t*>(p);
}

__attribute__((constructor)) void start() {
    const char* spec = std::getenv("DOMUS_FAULTS");
    if (!spec || !*spec || !process_matches()) return;
    configure(spec, 0);
    // Each monitor of a run its own stream (a configured test gets the seed as it is).
    state().random ^= std::uint64_t(::getpid()) << 32;
    if (const char* path = std::getenv("DOMUS_FAULTS_COUNTERS"); path && *path) map_counters(path);
    state().active = true;
    std::fprintf(stderr, "fault_inject: active in pid %d: %s\n", int(::getpid()), spec);
}

template <typename F>
F real(const char* name) {
    return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

bool is_direct(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    return flags >= 0 && (flags & O_DIRECT);
}

// How much of `count` bytes a short transfer moves, or 0 for "do not cut".
std::size_t short_length(int fd, std::size_t count) {
    std::size_t cut = below(count);
    if (cut != 0 && is_direct(fd)) cut -= cut % kDirectBlock;
    return cut;
}

// EAGAIN/EINTR before anything moves: the call returns -1; false when no error is due.
bool inject_error(bool eagain_allowed) {
    if (eagain_allowed && roll(kEagain)) {
        bump(DOMUS_FAULT_EAGAIN);
        errno = EAGAIN;
        return true;
    }
    if (roll(kEintr)) {
        bump(DOMUS_FAULT_EINTR);
        errno = EINTR;
        return true;
    }
    return false;
}

// The first `length` bytes of `iov` (length < its total).
std::vector<iovec> truncated(const iovec* iov, int iovcnt, std::size_t length) {
    std::vector<iovec> out;
    for (int i = 0; i < iovcnt && length > 0; ++i) {
        iovec piece = iov[i];
        if (piece.iov_len > length) piece.iov_len = length;
        length -= piece.iov_len;
        out.push_back(piece);
    }
    return out;
}

std::size_t total(const iovec* iov, int iovcnt) {
    std::size_t sum = 0;
    for (int i = 0; i < iovcnt; ++i)
        sum += iov[i].iov_len;
    return sum;
}

using PlainFn = ssize_t (*)(int, void*, size_t, off_t);
using PlainWriteFn = ssize_t (*)(int, const void*, size_t, off_t);
using VectorFn = ssize_t (*)(int, const iovec*, int, off_t, int);

ssize_t plain(const char* name, domus_fault_counter calls, int fd, void* buffer, size_t count,
              off_t offset) {
    static PlainFn fns[2] = {};
    bool write = calls == DOMUS_CALLS_PWRITE;
    PlainFn& fn = fns[write];
    if (!fn) fn = real<PlainFn>(name);
    if (!state().active) return fn(fd, buffer, count, offset);
    bump(calls);
    if (inject_error(true)) return -1;
    if (roll(kShort)) {
        if (std::size_t cut = short_length(fd, count); cut != 0) {
            bump(DOMUS_FAULT_SHORT);
            return fn(fd, buffer, cut, offset);
        }
    }
    return fn(fd, buffer, count, offset);
}

ssize_t vectored(const char* name, domus_fault_counter calls, int fd, const iovec* iov, int iovcnt,
                 off_t offset, int flags, bool v2) {
    using V1 = ssize_t (*)(int, const iovec*, int, off_t);
    static void* fns[4] = {};
    int index = (calls == DOMUS_CALLS_PWRITEV ? 1 : 0) + (v2 ? 2 : 0);
    if (!fns[index]) fns[index] = ::dlsym(RTLD_NEXT, name);
    auto call = [&](const iovec* pieces, int n) {
        return v2 ? reinterpret_cast<VectorFn>(fns[index])(fd, pieces, n, offset, flags)
                  : reinterpret_cast<V1>(fns[index])(fd, pieces, n, offset);
    };
    if (!state().active) return call(iov, iovcnt);
    bump(calls);
    if (inject_error(true)) return -1;
    if (roll(kShort)) {
        if (std::size_t cut = short_length(fd, total(iov, iovcnt)); cut != 0) {
            bump(DOMUS_FAULT_SHORT);
            auto pieces = truncated(iov, iovcnt, cut);
            return call(pieces.data(), int(pieces.size()));
        }
    }
    return call(iov, iovcnt);
}

int sync_call(const char* name, int fd) {
    using Fn = int (*)(int);
    static Fn fns[2] = {};
    Fn& fn = fns[name[1] == 'd'];
    if (!fn) fn = real<Fn>(name);
    if (!state().active) return fn(fd);
    bump(DOMUS_CALLS_FDATASYNC);
    if (inject_error(false)) return -1;
    return fn(fd);
}

// Applies the SQE faults to what io_uring_submit is about to hand to the kernel.
void mangle_sqes(io_uring* ring) {
    io_uring_sq& sq = ring->sq;
    for (unsigned i = sq.sqe_head; i != sq.sqe_tail; ++i) {
        io_uring_sqe& sqe = sq.sqes[i & sq.ring_mask];
        bump(DOMUS_CALLS_URING_SQES);
        bool io = sqe.opcode == IORING_OP_READV || sqe.opcode == IORING_OP_WRITEV ||
                  sqe.opcode == IORING_OP_READ || sqe.opcode == IORING_OP_WRITE;
        if (!io && sqe.opcode != IORING_OP_FSYNC) continue;
        int error = roll(kUringEagain) ? EAGAIN : roll(kUringEintr) ? EINTR : 0;
        if (error) {
            bump(error == EAGAIN ? DOMUS_FAULT_URING_EAGAIN : DOMUS_FAULT_URING_EINTR);
            std::uint64_t user_data = sqe.user_data;
            std::memset(&sqe, 0, sizeof sqe);
            sqe.opcode = IORING_OP_NOP;
            sqe.fd = -1;
            sqe.rw_flags = kNopInjectResult;
            sqe.len = std::uint32_t(-error);
            sqe.user_data = user_data;
            continue;
        }
        if (!io || !roll(kUringShort)) continue;
        bool direct = is_direct(sqe.fd);
        if (sqe.opcode == IORING_OP_READ || sqe.opcode == IORING_OP_WRITE) {
            std::uint64_t cut = below(sqe.len);
            if (direct) cut -= cut % kDirectBlock;
            if (cut == 0) continue;
            bump(DOMUS_FAULT_URING_SHORT);
            sqe.len = std::uint32_t(cut);
            continue;
        }
        // readv/writev: the SQE points at our own copy of the iovecs, cut at any byte (at
        // a 4 KiB multiple for O_DIRECT). The kernel imports the array when it prepares
        // the SQE, within io_uring_submit; the copy lives on for many submits after.
        auto* pieces = reinterpret_cast<const iovec*>(sqe.addr);
        std::uint64_t cut = below(total(pieces, int(sqe.len)));
        if (direct) cut -= cut % kDirectBlock;
        if (cut == 0) continue;
        bump(DOMUS_FAULT_URING_SHORT);
        static std::vector<iovec> copies[1024];
        static std::atomic<unsigned> next_copy{0};
        std::vector<iovec>& copy = copies[next_copy.fetch_add(1) % 1024];
        copy = truncated(pieces, int(sqe.len), cut);
        sqe.addr = reinterpret_cast<std::uint64_t>(copy.data());
        sqe.len = std::uint32_t(copy.size());
    }
}

}  // namespace

extern "C" {

ssize_t pread(int fd, void* buffer, size_t count, off_t offset) {
    return plain("pread", DOMUS_CALLS_PREAD, fd, buffer, count, offset);
}
ssize_t pread64(int fd, void* buffer, size_t count, off_t offset) {
    return plain("pread64", DOMUS_CALLS_PREAD, fd, buffer, count, offset);
}
ssize_t pwrite(int fd, const void* buffer, size_t count, off_t offset) {
    return plain("pwrite", DOMUS_CALLS_PWRITE, fd, const_cast<void*>(buffer), count, offset);
}
ssize_t pwrite64(int fd, const void* buffer, size_t count, off_t offset) {
    return plain("pwrite64", DOMUS_CALLS_PWRITE, fd, const_cast<void*>(buffer), count, offset);
}
ssize_t preadv(int fd, const iovec* iov, int iovcnt, off_t offset) {
    return vectored("preadv", DOMUS_CALLS_PREADV, fd, iov, iovcnt, offset, 0, false);
}
ssize_t pwritev(int fd, const iovec* iov, int iovcnt, off_t offset) {
    return vectored("pwritev", DOMUS_CALLS_PWRITEV, fd, iov, iovcnt, offset, 0, false);
}
ssize_t preadv2(int fd, const iovec* iov, int iovcnt, off_t offset, int flags) {
    return vectored("preadv2", DOMUS_CALLS_PREADV, fd, iov, iovcnt, offset, flags, true);
}
ssize_t pwritev2(int fd, const iovec* iov, int iovcnt, off_t offset, int flags) {
    return vectored("pwritev2", DOMUS_CALLS_PWRITEV, fd, iov, iovcnt, offset, flags, true);
}
int fdatasync(int fd) {
    return sync_call("fdatasync", fd);
}
int fsync(int fd) {
    return sync_call("fsync", fd);
}

int io_uring_queue_init(unsigned entries, io_uring* ring, unsigned flags) {
    using Fn = int (*)(unsigned, io_uring*, unsigned);
    static Fn fn = real<Fn>("io_uring_queue_init");
    if (state().active) {
        bump(DOMUS_CALLS_URING_INIT);
        if (state().no_uring) {
            bump(DOMUS_FAULT_NO_URING);
            return -state().no_uring;
        }
    }
    return fn(entries, ring, flags);
}

int io_uring_submit(io_uring* ring) {
    using Fn = int (*)(io_uring*);
    static Fn fn = real<Fn>("io_uring_submit");
    if (state().active) {
        bump(DOMUS_CALLS_URING_SUBMIT);
        if (roll(kSubmitEagain)) {
            bump(DOMUS_FAULT_SUBMIT_EAGAIN);
            return -EAGAIN;
        }
        mangle_sqes(ring);
    }
    return fn(ring);
}

void domus_faults_configure(const char* spec) {
    configure(spec, 1);
    state().active = spec && *spec;
}

uint64_t domus_faults_count(enum domus_fault_counter counter) {
    return state().local[counter].load(std::memory_order_relaxed);
}

}  // extern "C"
