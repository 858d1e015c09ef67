// The allowlist's rules (sandbox_rules.hpp), written with libseccomp.
#include "monitor/sandbox_rules.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>

#include "base/fd.hpp"
#include "kvm/kvm.hpp"

namespace domus::monitor::sandbox_rules {
namespace {

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
void allow_steady_state(Rules& rules, FileAccess files, pid_t pid) {
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
    // To this process's own threads only (the build fills in each monitor's pid:
    // sandbox_programs.hpp).
    rules.allow_if(SCMP_SYS(tgkill), arg(0, SCMP_CMP_EQ, std::uint64_t(pid)));

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

}  // namespace

Result<Program> compile_allowlist(FileAccess files, pid_t pid) {
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
    allow_steady_state(rules, files, pid);
    allow_sanitizer_calls(rules);
    DOMUS_TRY_VOID(rules.result());
    return export_program(filter.get());
}

std::uint32_t native_arch() {
    return seccomp_arch_native();
}

std::string call_name(int nr) {
    char* name = seccomp_syscall_resolve_num_arch(seccomp_arch_native(), nr);
    if (!name) return {};
    std::string resolved(name);
    std::free(name);
    return resolved;
}

}  // namespace domus::monitor::sandbox_rules
