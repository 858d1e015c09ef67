// The monitor's sandbox: its capability set, its inherited fds, its mount namespace and
// the seccomp allowlist that sandbox_rules.cpp holds and the build turned into BPF.
#include "monitor/sandbox.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/fd.hpp"
#include "base/host_files.hpp"
#include "base/log.hpp"
#include "monitor/sandbox_programs.hpp"

namespace domus::monitor {
namespace {

char g_who[32] = "domus";  // the process's name in the SIGSYS report

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
    using namespace sandbox_programs;
    bool native = info->si_arch == kNativeArch;
    bool named = native && info->si_syscall >= 0 && info->si_syscall < kNamedCalls &&
                 kCallNames[info->si_syscall][0];
    line.add(named ? kCallNames[info->si_syscall] : native ? "unknown" : "foreign architecture");
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

// Whether debug lines are written: what only they show is not worth looking up else.
bool debug_logged() {
    return log::Config::instance().level.load(std::memory_order_relaxed) <= log::Level::debug;
}

// Names each fd above stderr but `keep` in the debug log, as it is about to be closed.
void log_inherited_fds(const char* who, std::initializer_list<int> keep) {
    DIR* dir = ::opendir("/proc/self/fd");
    if (!dir) return;
    while (dirent* entry = ::readdir(dir)) {
        int fd = std::atoi(entry->d_name);
        if (fd <= STDERR_FILENO || fd == ::dirfd(dir) || std::count(keep.begin(), keep.end(), fd))
            continue;
        char link[64], target[256] = {};
        std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        [[maybe_unused]] auto n = ::readlink(link, target, sizeof target - 1);
        DOMUS_LOG_DEBUG("sandbox", "{}: closing inherited fd {} ({})", who, fd, target);
    }
    ::closedir(dir);
}

// Closes every fd above stderr but `keep`: whatever a parent leaked (a terminal, a
// pipe, another domain's image) is not the monitor's to reach. close_range() between
// the kept ones, without a look at what is open (a listing of /proc/self/fd is ~30 us
// here): only the debug log lists them.
Result<void> close_inherited_fds(const char* who, std::initializer_list<int> keep) {
    if (debug_logged()) log_inherited_fds(who, keep);
    std::vector<unsigned> kept;
    for (int fd : keep)
        if (fd > STDERR_FILENO) kept.push_back(unsigned(fd));
    std::sort(kept.begin(), kept.end());
    unsigned first = STDERR_FILENO + 1;
    for (unsigned fd : kept) {
        // Not owned by any object of this process.
        if (fd > first && ::close_range(first, fd - 1, 0) != 0) return errno_error("close_range");
        first = std::max(first, fd + 1);
    }
    if (::close_range(first, ~0u, 0) != 0) return errno_error("close_range");
    return {};
}

// The threads of this process now: field 20 of /proc/self/stat, after the command name
// in parentheses (which may hold spaces and parentheses of its own).
std::size_t thread_count() {
    Fd stat(::open("/proc/self/stat", O_RDONLY | O_CLOEXEC));
    char text[1024];
    ssize_t n = stat ? ::read(stat.get(), text, sizeof text - 1) : -1;
    if (n <= 0) return 0;
    text[n] = '\0';
    const char* field = std::strrchr(text, ')');
    for (int skipped = 0; field && skipped < 18; ++skipped)  // state (3) .. num_threads (20)
        field = std::strchr(field + 1, ' ');
    return field ? std::size_t(std::strtoul(field + 1, nullptr, 10)) : 0;
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
    struct sigaction report {};
    report.sa_sigaction = on_forbidden_call;
    report.sa_flags = SA_SIGINFO;
    sigemptyset(&report.sa_mask);
    if (::sigaction(SIGSYS, &report, nullptr) != 0) return errno_error("sigaction SIGSYS");
    // Not under ASan: its reports read /proc/self/maps.
    if (hardened_state().own_mounts && !DOMUS_UNDER_ASAN) DOMUS_TRY_VOID(leave_host_tree());
    if (user) DOMUS_TRY_VOID(become_user(who, *user));  // set*id is forbidden after
    // The program was made when Domus was built (sandbox_programs.hpp); it takes this
    // process's pid, to which alone signals may go. Every thread gets it (device and
    // control threads exist by now). no_new_privs is set since harden_process.
    const auto& allowlist = files == FileAccess::paths ? sandbox_programs::kAllowlistPaths
                                                       : sandbox_programs::kAllowlistPassed;
    std::vector<sock_filter> program(allowlist.code.begin(), allowlist.code.end());
    program.at(allowlist.pid_slot).k = std::uint32_t(::getpid());
    sock_fprog code{static_cast<unsigned short>(program.size()), program.data()};
    long rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &code);
    if (rc < 0) return errno_error("seccomp");
    if (rc > 0) return make_error("seccomp: thread {} cannot take the filter", rc);
    if (files == FileAccess::passed) HostFiles::process().give_up_paths();
    if (debug_logged())
        DOMUS_LOG_DEBUG("sandbox", "{}: sandbox on (seccomp allowlist on {} threads, no_new_privs)",
                        who, thread_count());
    return {};
}

}  // namespace domus::monitor
