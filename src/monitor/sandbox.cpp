// The monitor's sandbox: its capability set, its inherited fds and its seccomp
// allowlist, each group of system calls with the reason the steady state needs it.
#include "monitor/sandbox.hpp"

#include "kvm/kvm.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/fd.hpp"
#include "base/host_files.hpp"
#include "base/log.hpp"

namespace domus::monitor {
namespace {

// The name of a forbidden call in the record, resolved before the filter is installed
// (libseccomp allocates; the SIGSYS handler may not).
constexpr int kNamedCalls = 512;
char g_call_names[kNamedCalls][24];
char g_who[32] = "domus";
std::uint32_t g_native_arch = 0;  // the AUDIT_ARCH_* a native call's siginfo carries

// Async-signal-safe: appends `text` or a decimal to a fixed buffer.
struct Line {
    char text[200];
    std::size_t size = 0;
    void add(const char* s) {
        while (*s && size < sizeof(text) - 1)
            text[size++] = *s++;
    }
    void add(long value) {
        char digits[24];
        int n = 0;
        unsigned long v = value < 0 ? 0UL - static_cast<unsigned long>(value) : value;
        do {
            digits[n++] = char('0' + v % 10);
            v /= 10;
        } while (v && n < 23);
        if (value < 0) add("-");
        while (n > 0 && size < sizeof(text) - 1)
            text[size++] = digits[--n];
    }
};

// SIGSYS from the filter (SCMP_ACT_TRAP): one line on stderr (the domain's vmm.log
// under domusd), then death by SIGSYS itself, so the parent and the shell see a signal.
void on_forbidden_call(int, siginfo_t* info, void*) {
    Line line;
    line.add(g_who);
    line.add(": forbidden system call ");
    line.add(long(info->si_syscall));
    line.add(" (");
    bool native = info->si_arch == g_native_arch;
    bool named = native && info->si_syscall >= 0 && info->si_syscall < kNamedCalls &&
                 g_call_names[info->si_syscall][0];
    line.add(named ? g_call_names[info->si_syscall] : native ? "unknown" : "foreign architecture");
    line.add(") \u2014 sandbox violation; the monitor stops (docs/sandbox.md)\n");
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.text, line.size);
    struct sigaction fatal {};
    fatal.sa_handler = SIG_DFL;
    ::sigaction(SIGSYS, &fatal, nullptr);
    sigset_t sys;
    sigemptyset(&sys);
    sigaddset(&sys, SIGSYS);
    ::pthread_sigmask(SIG_UNBLOCK, &sys, nullptr);
    ::raise(SIGSYS);
    ::_exit(128 + SIGSYS);  // not reached
}

void resolve_call_names() {
    g_native_arch = seccomp_arch_native();
    for (int nr = 0; nr < kNamedCalls; ++nr) {
        char* name = seccomp_syscall_resolve_num_arch(g_native_arch, nr);
        if (!name) continue;
        std::strncpy(g_call_names[nr], name, sizeof(g_call_names[nr]) - 1);
        std::free(name);
    }
}

// Argument `index` compared by `op` with `datum` (and `second`: the masked compare's
// value); libseccomp's SCMP_A<n> macros leave the last field to zero-initialisation,
// which clang's -Wmissing-field-initializers refuses.
constexpr scmp_arg_cmp arg(unsigned index, scmp_compare op, scmp_datum_t datum,
                           scmp_datum_t second = 0) {
    return scmp_arg_cmp{index, op, datum, second};
}

struct FilterDeleter {
    void operator()(void* context) const noexcept { seccomp_release(context); }
};
using Filter = std::unique_ptr<void, FilterDeleter>;

// Collects the first failure of many seccomp_rule_add calls.
class Rules {
public:
    explicit Rules(scmp_filter_ctx context) : context_(context) {}

    void allow(std::initializer_list<int> calls) {
        for (int call : calls)
            check(seccomp_rule_add(context_, SCMP_ACT_ALLOW, call, 0), call);
    }
    template <typename... Comparisons>
    void allow_if(int call, Comparisons... comparisons) {
        check(seccomp_rule_add(context_, SCMP_ACT_ALLOW, call, sizeof...(comparisons),
                               comparisons...),
              call);
    }
    void fail(int call, int error) {
        check(seccomp_rule_add(context_, SCMP_ACT_ERRNO(error), call, 0), call);
    }
    // An ioctl with one of these request numbers (compared on 32 bits: the request is
    // an unsigned int that some callers sign-extend).
    void allow_ioctls(std::initializer_list<unsigned long> requests) {
        for (unsigned long request : requests)
            allow_if(SCMP_SYS(ioctl), arg(1, SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, request));
    }

    Result<void> result() const {
        if (error_ == 0) return {};
        return errno_error(fmt::format("seccomp rule for system call {}", failed_call_), -error_);
    }

private:
    void check(int rc, int call) {
        if (rc < 0 && error_ == 0) {
            error_ = rc;
            failed_call_ = call;
        }
    }
    scmp_filter_ctx context_;
    int error_ = 0;
    int failed_call_ = 0;
};

// The steady state of a monitor: what its vCPU threads, device threads (block, console,
// channels, store link), control server and signal watcher call once the domain is
// built. Derived from `strace -f` of the integration tests (docs/sandbox.md); every
// call not listed here is forbidden.
void allow_steady_state(Rules& rules, FileAccess files) {
    // Memory: the allocator, thread stacks, grant and foreign mappings of guest memory
    // (the guest's memfd is mapped again for a backend's grant maps), madvise to give
    // pages back. Never a new executable mapping: the monitor loads no code after start.
    rules.allow_if(SCMP_SYS(mmap), arg(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    rules.allow_if(SCMP_SYS(mprotect), arg(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    rules.allow({SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise), SCMP_SYS(brk)});

    // Threads: a hot-plugged device and each control request start threads. Only
    // threads: clone without CLONE_THREAD (fork) is forbidden, and clone3, whose flags
    // a filter cannot read, answers ENOSYS so glibc falls back to clone.
    rules.allow_if(SCMP_SYS(clone), arg(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
    rules.fail(SCMP_SYS(clone3), ENOSYS);
    // `domus run` hands the VM's last close to a child sharing its memory (CLONE_VM
    // without CLONE_THREAD, base/deferred_close.hpp), which closes its copies of the
    // other fds first: still under this filter, inherited, and never a fork (no CLONE_VM).
    rules.allow_if(SCMP_SYS(clone), arg(0, SCMP_CMP_MASKED_EQ, CLONE_VM, CLONE_VM));
    rules.allow({SCMP_SYS(dup), SCMP_SYS(close_range)});
    rules.allow({SCMP_SYS(futex), SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(exit),
                 SCMP_SYS(exit_group), SCMP_SYS(gettid), SCMP_SYS(getpid), SCMP_SYS(sched_yield),
                 SCMP_SYS(sched_getaffinity), SCMP_SYS(restart_syscall)});
    // Thread names (pthread_setname_np on the calling thread).
    rules.allow_if(SCMP_SYS(prctl), arg(0, SCMP_CMP_EQ, PR_SET_NAME));
    rules.allow_if(SCMP_SYS(prctl), arg(0, SCMP_CMP_EQ, PR_GET_NAME));
    // A vCPU thread puts itself into SCHED_BATCH (vcpu_runner.cpp); no other policy.
    rules.allow_if(SCMP_SYS(sched_setscheduler), arg(1, SCMP_CMP_EQ, SCHED_BATCH));

    // Signals: SIGUSR1 kicks a vCPU out of KVM_RUN, the watcher waits for the stop
    // signals, SIGPIPE is ignored. Signals go to this process's own threads only.
    rules.allow({SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
                 SCMP_SYS(rt_sigtimedwait), SCMP_SYS(sigaltstack)});
    // To this process's own threads only: a filter of its own (compile_pid_guard), so
    // that this one names no pid and the pool's parent compiles it once for its forks.
    rules.allow({SCMP_SYS(tgkill)});

    // Time: a vCPU's guest timer is a POSIX timer signalling its thread (created and
    // re-armed as the guest asks), timeouts of the event loops, the CPU time `info`
    // reports (CPU-time clocks are not in the vDSO).
    rules.allow({SCMP_SYS(timer_create), SCMP_SYS(timer_settime), SCMP_SYS(timer_gettime),
                 SCMP_SYS(timer_getoverrun), SCMP_SYS(timer_delete), SCMP_SYS(clock_gettime),
                 SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep), SCMP_SYS(gettimeofday)});

    // Waiting for events: eventfds (doorbells, irqfds, wakeups of a hot-plugged device),
    // the poll loops of the device and console threads and of the control server, and a
    // vif's timer (a packet held by its rate limit; a hot-plugged vif makes one).
    rules.allow({SCMP_SYS(eventfd2), SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(timerfd_create),
                 SCMP_SYS(timerfd_settime)});

    // Files by fd: the pread/pwrite/fdatasync/fallocate of raw and qcow2 images, OFD
    // locks (fcntl), flock for the images' lock files. fstat is newfstatat with an empty
    // path in glibc; a stat by path shows metadata, never contents.
    rules.allow({SCMP_SYS(close),   SCMP_SYS(read),       SCMP_SYS(write),      SCMP_SYS(readv),
                 SCMP_SYS(writev),  SCMP_SYS(pread64),    SCMP_SYS(pwrite64),   SCMP_SYS(preadv),
                 SCMP_SYS(pwritev), SCMP_SYS(preadv2),    SCMP_SYS(pwritev2),   SCMP_SYS(lseek),
                 SCMP_SYS(fsync),   SCMP_SYS(fdatasync),  SCMP_SYS(fallocate),  SCMP_SYS(ftruncate),
                 SCMP_SYS(fstat),   SCMP_SYS(newfstatat), SCMP_SYS(statx),      SCMP_SYS(fstatfs),
                 SCMP_SYS(fcntl),   SCMP_SYS(flock),      SCMP_SYS(getdents64), SCMP_SYS(umask),
                 SCMP_SYS(getcwd),  SCMP_SYS(getrandom)});
    // Files by path: opening, and removing, renaming and looking up names (the glibc
    // wrappers of unlink, rename, readlink and access still use the old system calls on
    // x86-64). A monitor under domusd has none of it (FileAccess::passed): what a request
    // needs comes with it, opened by domusd (base/host_files.hpp), and a call by path
    // fails with EACCES: a library's stray lookup fails softly, a request fails with a
    // clear error, and the domain goes on. `domus run` (FileAccess::paths) keeps them:
    // its block-attach opens images by path (a filter cannot read paths).
    for (int call : {SCMP_SYS(openat), SCMP_SYS(unlink), SCMP_SYS(unlinkat), SCMP_SYS(rename),
                     SCMP_SYS(renameat), SCMP_SYS(renameat2), SCMP_SYS(access), SCMP_SYS(faccessat),
                     SCMP_SYS(faccessat2), SCMP_SYS(readlink), SCMP_SYS(readlinkat)}) {
        if (files == FileAccess::paths)
            rules.allow({call});
        else
            rules.fail(call, EACCES);
    }

    // io_uring: the block backend's queues; a hot-plugged disk sets up a new one.
    rules.allow({SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_enter), SCMP_SYS(io_uring_register)});

    // Sockets, UNIX only: the control socket (accepting domusd and the CLI), the store
    // link (fds passed with SCM_RIGHTS) and channel sockets, which a hot-plug or a
    // reconnecting peer may create. No network family: no new way off the host.
    rules.allow_if(SCMP_SYS(socket), arg(0, SCMP_CMP_EQ, AF_UNIX));
    rules.allow({SCMP_SYS(connect), SCMP_SYS(accept4), SCMP_SYS(bind), SCMP_SYS(listen),
                 SCMP_SYS(sendto), SCMP_SYS(recvfrom), SCMP_SYS(sendmsg), SCMP_SYS(recvmsg),
                 SCMP_SYS(shutdown), SCMP_SYS(getsockopt), SCMP_SYS(setsockopt),
                 SCMP_SYS(getsockname), SCMP_SYS(getpeername)});

    // ioctl by request number. KVM: the run loop (registers come through the run
    // structure's sync area), the segment registers (a guest's fs/gs base hypercall, a
    // secondary vCPU's start), ioeventfds of hot-plugged devices. Not KVM_CREATE_VM,
    // KVM_CREATE_VCPU or the vCPU set-up calls (memslots, CPUID, FPU): all of them happen
    // while the domain is built. Block devices used as raw images: their size (hot-plug)
    // and zeroing (discard). Terminals: isatty on the console of `domus run`. A vif's TAP:
    // its offloads, set when the frontend (re)connects; a hot-plugged vif's new TAP
    // (network-attach): made, its MTU, address and flags set through a UNIX socket.
    rules.allow_ioctls({KVM_RUN, KVM_GET_SREGS, KVM_SET_SREGS, KVM_IOEVENTFD, BLKGETSIZE64,
                        BLKZEROOUT, TCGETS, TUNSETOFFLOAD, TUNSETIFF, TUNSETVNETHDRSZ, SIOCSIFMTU,
                        SIOCSIFHWADDR, SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCGIFINDEX});
    // Save and migration (domain_save.cpp): a vCPU's extended state and XCRs, and the
    // dirty log of guest memory, switched on and off on its memory slot.
    rules.allow_ioctls({kvm::kGetXsave, kvm::kGetXsave2, KVM_GET_XCRS, KVM_GET_DIRTY_LOG,
                        KVM_SET_USER_MEMORY_REGION});
    // A migration's destination sets each vCPU's state once the stream is in (its
    // monitor runs sandboxed while the memory arrives).
    rules.allow_ioctls({kvm::kSetXsave, KVM_SET_XCRS});
}

// ASan's runtime makes calls of its own after the filter is in: reports open
// /proc/self/maps with the old open(), and LeakSanitizer stops the world at exit from
// a clone()d tracer task (CLONE_VM, allowed anyway, see above) that lists
// the threads with the old getdents() and ptraces them. The tracer blocks every
// signal, so a call missing here kills it silently (SIGSYS) and leaves the monitor
// spinning at exit. Only in sanitizer builds.
void allow_sanitizer_calls([[maybe_unused]] Rules& rules) {
#if DOMUS_UNDER_ASAN
    rules.allow({SCMP_SYS(ptrace), SCMP_SYS(prctl), SCMP_SYS(wait4), SCMP_SYS(waitid),
                 SCMP_SYS(open), SCMP_SYS(getdents), SCMP_SYS(pipe2), SCMP_SYS(getppid),
                 SCMP_SYS(prlimit64), SCMP_SYS(getrlimit), SCMP_SYS(sched_getaffinity)});
#endif
}

// Empties the bounding, inheritable and ambient capability sets: nothing the monitor
// could still execute (execve is forbidden anyway) would gain a capability. The
// effective and permitted sets stay as the parent gave them (root's, under domusd): the
// kernel lets a process read another's /proc/<pid>/fdinfo, which names the holder of a
// disk's lock (storage/image_lock.cpp) when a start or a hot-plug is refused, only if
// its capabilities include the other's (docs/sandbox.md, "What stays privileged").
// A non-root caller (a `domus run` user in the kvm group) cannot drop from the
// bounding set: EPERM there is not an error.
Result<void> drop_capability_sets() {
    // Up to the running kernel's last capability, not the headers' CAP_LAST_CAP: past it
    // the kernel says EINVAL (capabilities are numbered without gaps). EPERM: without
    // CAP_SETPCAP none can be dropped. Each call is ~1.5 us here; 64 of them were a
    // tenth of this step.
    for (int capability = 0; capability < 64; ++capability) {
        if (::prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) == 0) continue;
        if (errno == EINVAL || errno == EPERM) break;
        return errno_error("PR_CAPBSET_DROP");
    }
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        return errno_error("PR_CAP_AMBIENT_CLEAR_ALL");
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &header, data) != 0) return errno_error("capget");
    data[0].inheritable = data[1].inheritable = 0;
    if (::syscall(SYS_capset, &header, data) != 0) return errno_error("capset");
    return {};
}

// Closes every fd above stderr but `keep`: whatever a parent leaked (a terminal, a
// pipe, another domain's image) is not the monitor's to reach.
Result<void> close_inherited_fds(const char* who, std::initializer_list<int> keep) {
    DIR* dir = ::opendir("/proc/self/fd");
    if (!dir) return errno_error("/proc/self/fd");
    std::vector<int> inherited;
    while (dirent* entry = ::readdir(dir)) {
        int fd = std::atoi(entry->d_name);
        if (fd <= STDERR_FILENO || fd == ::dirfd(dir)) continue;
        bool kept = false;
        for (int k : keep)
            kept = kept || k == fd;
        if (!kept) inherited.push_back(fd);
    }
    ::closedir(dir);
    for (int fd : inherited) {
        char link[64], target[256] = {};
        std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        [[maybe_unused]] auto n = ::readlink(link, target, sizeof target - 1);
        DOMUS_LOG_DEBUG("sandbox", "{}: closing inherited fd {} ({})", who, fd, target);
        ::close(fd);  // not owned by any object of this process
    }
    return {};
}

// The threads of this process now (entries of /proc/self/task).
std::size_t thread_count() {
    DIR* dir = ::opendir("/proc/self/task");
    if (!dir) return 0;
    std::size_t threads = 0;
    while (dirent* entry = ::readdir(dir))
        threads += entry->d_name[0] != '.';
    ::closedir(dir);
    return threads;
}

}  // namespace

bool sandbox_enabled() noexcept {
    const char* setting = std::getenv("DOMUS_SANDBOX");
    return !setting || std::strcmp(setting, "off") != 0;
}

void warn_unsandboxed(const char* who) {
    DOMUS_LOG_WARN("sandbox",
                   "{}: DOMUS_SANDBOX=off: NO SANDBOX. This monitor keeps every capability, "
                   "inherited fd and system call of its parent (for debugging only)",
                   who);
}

namespace {

// What harden_process() set up for enter_sandbox() (a clearly named singleton: both are
// called once per process, from main()).
struct HardenedState {
    bool own_mounts = false;  // a mount namespace of its own (FileAccess::passed)
};

HardenedState& hardened_state() {
    static HardenedState state;
    return state;
}

// A mount namespace of the process's own, a copy of the host's whose mounts no longer
// propagate either way. A namespace belongs to a thread and is inherited by the threads
// it creates, so this comes before the first one. The start still opens its kernel,
// disks and sockets by path in it; enter_sandbox() then empties it (leave_host_tree).
// Needs CAP_SYS_ADMIN: without it (not root), the host's namespace stays.
Result<void> unshare_mounts(const char* who) {
    if (::unshare(CLONE_NEWNS) != 0) {
        if (errno != EPERM) return errno_error("unshare(CLONE_NEWNS)");
        DOMUS_LOG_DEBUG("sandbox", "{}: no mount namespace of its own (not root)", who);
        return {};
    }
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return errno_error("make the mount namespace's mounts private");
    hardened_state().own_mounts = true;
    return {};
}

// The process's root (and every thread's: they share the namespace and, as threads, the
// root) becomes an empty, read-only tmpfs, moved over the host's tree: nothing is left to
// reach by path. /dev serves as the mount point only because it exists everywhere; the
// mount is in this namespace alone. As switch_root does it (move, then chroot), not with
// pivot_root, which visits every task on the host (~0.2 ms with 200 domains running).
Result<void> leave_host_tree() {
    if (::mount("domus-empty", "/dev", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY,
                "size=4k,mode=0555") != 0)
        return errno_error("mount an empty root");
    if (::chdir("/dev") != 0) return errno_error("chdir to the empty root");
    if (::mount(".", "/", nullptr, MS_MOVE, nullptr) != 0)
        return errno_error("move the empty root over the host's");
    if (::chroot(".") != 0) return errno_error("chroot into the empty root");
    if (::chdir("/") != 0) return errno_error("chdir /");
    return {};
}

}  // namespace

Result<void> harden_process(const char* who, std::initializer_list<int> keep, FileAccess files) {
    if (!sandbox_enabled()) {
        warn_unsandboxed(who);
        return {};
    }
    if (files == FileAccess::passed) DOMUS_TRY_VOID(unshare_mounts(who));
    // Capability sets are per thread: one started before main() (a preloaded library's)
    // keeps its own. The seccomp filter still reaches it (TSYNC).
    if (std::size_t threads = thread_count(); threads > 1)
        DOMUS_LOG_WARN("sandbox",
                       "{}: {} threads exist before the sandbox; only this one "
                       "empties its capability sets",
                       who, threads);
    DOMUS_TRY_VOID(close_inherited_fds(who, keep));
    DOMUS_TRY_VOID(drop_capability_sets());
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno_error("PR_SET_NO_NEW_PRIVS");
    return {};
}

namespace {

// The allowlist as the BPF program libseccomp makes of it (and the names of calls for
// the SIGSYS report): the costly part of entering the sandbox, done by
// prepare_sandbox()'s thread or by enter_sandbox() itself.
using Program = std::vector<sock_filter>;

Result<Program> export_program(scmp_filter_ctx filter);

Result<Program> compile_allowlist(FileAccess files) {
    resolve_call_names();
    Filter filter(seccomp_init(SCMP_ACT_TRAP));
    if (!filter) return make_error("seccomp_init failed");
    // Another architecture's calls (int 0x80) are forbidden calls too.
    if (int rc = seccomp_attr_set(filter.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP); rc < 0)
        return errno_error("seccomp bad-architecture action", -rc);
    // A binary tree of system-call numbers instead of a list: KVM_RUN, the call of
    // every exit, is found in a few comparisons (docs/sandbox.md has the cost).
    if (int rc = seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2); rc < 0)
        return errno_error("seccomp optimisation", -rc);
    Rules rules(filter.get());
    allow_steady_state(rules, files);
    allow_sanitizer_calls(rules);
    DOMUS_TRY_VOID(rules.result());
    return export_program(filter.get());
}

Result<Program> export_program(scmp_filter_ctx filter) {
    // libseccomp 2.5 exports the program to an fd only; it is a few KiB: a pipe holds it.
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) < 0) return errno_error("pipe for the seccomp program");
    Fd read_end(ends[0]), write_end(ends[1]);
    if (int rc = seccomp_export_bpf(filter, write_end.get()); rc < 0)
        return errno_error("seccomp_export_bpf", -rc);
    write_end.reset();
    std::string bytes;
    char buffer[4096];
    for (ssize_t n; (n = ::read(read_end.get(), buffer, sizeof buffer)) != 0;) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno_error("read the seccomp program");
        bytes.append(buffer, std::size_t(n));
    }
    if (bytes.empty() || bytes.size() % sizeof(sock_filter) != 0)
        return make_error("seccomp program of {} bytes", bytes.size());
    Program program(bytes.size() / sizeof(sock_filter));
    std::memcpy(program.data(), bytes.data(), bytes.size());
    return program;
}

// The filter beside the allowlist: everything passes it but a signal to another
// process's thread (tgkill whose first argument is not `pid`), which traps as a
// forbidden call does. A few instructions, made where the pid is known.
Result<Program> compile_pid_guard(pid_t pid) {
    Filter filter(seccomp_init(SCMP_ACT_ALLOW));
    if (!filter) return make_error("seccomp_init failed");
    if (int rc = seccomp_rule_add(filter.get(), SCMP_ACT_TRAP, SCMP_SYS(tgkill), 1,
                                  arg(0, SCMP_CMP_NE, std::uint64_t(pid)));
        rc < 0)
        return errno_error("seccomp rule for tgkill", -rc);
    return export_program(filter.get());
}

// prepare_sandbox()'s thread and what it made; joined at exit if never used (a monitor
// that failed before its sandbox).
struct Preparation {
    pthread_t thread{};
    bool running = false;
    FileAccess files = FileAccess::paths;  // what `program` was made for
    std::optional<Result<Program>> program;
    void join() {
        if (running) ::pthread_join(thread, nullptr);
        running = false;
    }
    ~Preparation() { join(); }
};

Preparation& preparation() {
    static Preparation prepared;
    return prepared;
}

}  // namespace

void prepare_sandbox(FileAccess files) {
    auto& prepared = preparation();
    if (!sandbox_enabled() || prepared.running || prepared.program) return;
    prepared.files = files;
    // SCHED_BATCH from its start: on a busy host a new thread would otherwise preempt
    // the one building the domain, which then waits for the CPU behind other processes.
    pthread_attr_t attributes;
    ::pthread_attr_init(&attributes);
    ::pthread_attr_setinheritsched(&attributes, PTHREAD_EXPLICIT_SCHED);
    ::pthread_attr_setschedpolicy(&attributes, SCHED_BATCH);
    sched_param none{};
    ::pthread_attr_setschedparam(&attributes, &none);
    auto compile = [](void* where) -> void* {
        auto* preparing = static_cast<Preparation*>(where);
        preparing->program = compile_allowlist(preparing->files);
        return nullptr;
    };
    prepared.running = ::pthread_create(&prepared.thread, &attributes, compile, &prepared) == 0;
    ::pthread_attr_destroy(&attributes);
}

Result<void> prepare_sandbox_now(FileAccess files) {
    auto& prepared = preparation();
    if (!sandbox_enabled()) return {};
    prepared.join();
    prepared.files = files;
    prepared.program = compile_allowlist(files);
    if (!*prepared.program) return prepared.program->error();
    return {};
}

namespace {

// Every thread of the process becomes `user` (and its group, with no supplementary
// groups): glibc's set*id calls reach all threads. A root process leaving uid 0 loses its
// permitted and effective capabilities with it (no SECBIT_KEEP_CAPS), on every thread.
// Not root: nothing to leave.
Result<void> become_user(const char* who, uid_t user) {
    if (::geteuid() != 0) {
        DOMUS_LOG_DEBUG("sandbox", "{}: not root; stays user {}", who, ::geteuid());
        return {};
    }
    gid_t group = gid_t(user);
    if (::setgroups(0, nullptr) != 0) return errno_error("setgroups");
    if (::setresgid(group, group, group) != 0) return errno_error("setresgid");
    if (::setresuid(user, user, user) != 0) return errno_error("setresuid");
#if DOMUS_UNDER_ASAN
    // LeakSanitizer's tracer (a task of this process, not a thread) ptraces the threads
    // at exit: allowed for a dumpable process of the same user.
    ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
    return {};
}

}  // namespace

Result<void> enter_sandbox(const char* who, FileAccess files, std::optional<uid_t> user) {
    if (!sandbox_enabled()) {
        // Also the mark from where `strace -f` of an unsandboxed monitor shows the
        // steady state (docs/sandbox.md).
        DOMUS_LOG_WARN("sandbox", "{}: DOMUS_SANDBOX=off: the domain runs with no seccomp filter",
                       who);
        return {};
    }
    std::strncpy(g_who, who, sizeof(g_who) - 1);
    auto& prepared = preparation();
    prepared.join();
    Result<Program> compiled = prepared.program && prepared.files == files
                                   ? std::move(*prepared.program)
                                   : compile_allowlist(files);
    prepared.program.reset();
    DOMUS_TRY(program, std::move(compiled));
    struct sigaction report {};
    report.sa_sigaction = on_forbidden_call;
    report.sa_flags = SA_SIGINFO;
    sigemptyset(&report.sa_mask);
    if (::sigaction(SIGSYS, &report, nullptr) != 0) return errno_error("sigaction SIGSYS");
    // Not under ASan: its reports read /proc/self/maps.
    if (hardened_state().own_mounts && !DOMUS_UNDER_ASAN) DOMUS_TRY_VOID(leave_host_tree());
    if (user) DOMUS_TRY_VOID(become_user(who, *user));  // set*id is forbidden after
    DOMUS_TRY(guard, compile_pid_guard(::getpid()));
    // Every thread gets both filters (device and control threads exist by now); a call
    // must pass both. The guard first: the allowlist forbids seccomp() itself.
    // no_new_privs is set since harden_process.
    for (Program* filter : {&guard, &program}) {
        sock_fprog code{static_cast<unsigned short>(filter->size()), filter->data()};
        long rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &code);
        if (rc < 0) return errno_error("seccomp");
        if (rc > 0) return make_error("seccomp: thread {} cannot take the filter", rc);
    }
    if (files == FileAccess::passed) HostFiles::process().give_up_paths();
    DOMUS_LOG_DEBUG("sandbox", "{}: sandbox on (seccomp allowlist on {} threads, no_new_privs)",
                    who, thread_count());
    return {};
}

}  // namespace domus::monitor
