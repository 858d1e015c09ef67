// close_in_background(): clone(CLONE_VM) onto a small stack of its own; the child makes
// only raw system calls (it shares our libc state, so no locks, no allocation).
#include "base/deferred_close.hpp"

#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>
#include <new>

namespace domus {
namespace {

// Shared by parent and child (same memory): the descriptor, and whether the parent has
// closed its own copy (so that the child's close is the last, the slow one).
struct Handoff {
    int fd;
    std::atomic<std::uint32_t> parent_closed;
};

int close_and_exit(void* arg) {
    auto* handoff = static_cast<Handoff*>(arg);
    int fd = handoff->fd;
    // Our copies of the parent's other descriptors first: a pipe's reader sees its end
    // when the parent exits, not after the teardown.
    if (fd > 0) ::syscall(SYS_close_range, 0u, unsigned(fd - 1), 0u);
    ::syscall(SYS_close_range, unsigned(fd + 1), UINT_MAX, 0u);
    while (handoff->parent_closed.load() == 0)
        ::syscall(SYS_futex, &handoff->parent_closed, FUTEX_WAIT, 0, nullptr, nullptr, 0);
    ::syscall(SYS_close, fd);
    ::syscall(SYS_exit, 0);
    return 0;
}

}  // namespace

Result<void> close_in_background(Fd fd) {
    // The stack (with the handoff at its bottom) stays mapped: it goes with the process.
    constexpr std::size_t kStack = 64 << 10;
    void* area =
        ::mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) return errno_error("mmap");
    auto* handoff = new (area) Handoff{fd.get(), {0}};
    // The child's own name, which it is born with: sharing our memory, it shows our
    // command line, and whoever looks for our process by name (tests, the soak) must
    // tell the two apart even before the child first runs, which under load can be
    // milliseconds after we are gone. So we take the name ourselves (we are about to
    // exit: the caller's work is done) and the child inherits it.
    ::prctl(PR_SET_NAME, "vm-teardown", 0, 0, 0);
    // No exit signal: the child is never waited for; init reaps it once we are gone.
    int pid = ::clone(close_and_exit, static_cast<char*>(area) + kStack, CLONE_VM, handoff);
    if (pid < 0) {
        auto error = errno_error("clone");
        ::munmap(area, kStack);
        return error;
    }
    fd.reset();  // not the last reference: quick
    handoff->parent_closed.store(1);
    ::syscall(SYS_futex, &handoff->parent_closed, FUTEX_WAKE, 1, nullptr, nullptr, 0);
    return {};
}

}  // namespace domus
