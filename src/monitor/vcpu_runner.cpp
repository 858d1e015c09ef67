// The vCPU loop: KVM_RUN, the exit switch, blocking, timers and upcall injection.
#include "monitor/vcpu_runner.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <mutex>

#include "base/log.hpp"
#include "monitor/domain.hpp"
#include "monitor/hypercalls.hpp"

#include <domus/abi/event_channel.h>

namespace domus::monitor {
namespace {

// The kick signal only has to interrupt KVM_RUN or ppoll; the handler makes a kick
// that lands just before KVM_RUN still count, through immediate_exit.
constexpr int kKickSignal = SIGUSR1;
thread_local kvm_run* t_kvm_run = nullptr;

void on_kick_signal(int) {
    if (t_kvm_run) t_kvm_run->immediate_exit = 1;
}

void install_kick_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction action {};
        action.sa_handler = on_kick_signal;
        sigemptyset(&action.sa_mask);
        action.sa_flags = 0;  // no SA_RESTART: ppoll must return EINTR
        ::sigaction(kKickSignal, &action, nullptr);
    });
}

constexpr std::uint64_t kRflagsTrap = 1ull << 8, kRflagsDirection = 1ull << 10,
                        kRflagsAlign = 1ull << 18;

}  // namespace

VcpuRunner::VcpuRunner(Domain& domain, std::unique_ptr<kvm::Vcpu> vcpu,
                       std::uint64_t default_vcpu_info)
    : domain_(domain),
      vcpu_(std::move(vcpu)),
      kick_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      vcpu_info_gpa_(default_vcpu_info) {
    install_kick_handler();
}

VcpuRunner::~VcpuRunner() {
    join();
}

void VcpuRunner::start_thread() {
    thread_ = std::thread([this] { thread_main(); });
}

void VcpuRunner::wait_started() noexcept {
    tid_.wait(0, std::memory_order_acquire);
}

void VcpuRunner::join() {
    if (thread_.joinable()) {
        kick();
        thread_.join();
    }
}

void VcpuRunner::kick() noexcept {
    switch (state_.load()) {
        case State::running:
            if (pthread_t id = thread_id_.load()) ::pthread_kill(id, kKickSignal);
            break;
        case State::blocked: {
            std::uint64_t one = 1;
            [[maybe_unused]] auto n = ::write(kick_fd_.get(), &one, sizeof(one));
            break;
        }
        case State::in_monitor:
            break;  // it looks for work before it runs or blocks
    }
}

int VcpuRunner::initialise(const domus_vcpu_context& context) noexcept {
    if (up_.load()) return -XEN_EEXIST;
    std::lock_guard lock(start_mutex_);
    start_context_ = context;
    context_applied_ = false;
    return 0;
}

int VcpuRunner::bring_up() noexcept {
    {
        std::lock_guard lock(start_mutex_);
        if (!start_context_) return -XEN_EINVAL;
    }
    if (vcpu_info_gpa() == 0) return -XEN_EINVAL;  // vCPU >= 32 without a registered vcpu_info
    if (!up_.exchange(true)) kick();               // it is parked in block_until, waiting for up_
    return 0;
}

void VcpuRunner::go_down() noexcept {
    if (up_.exchange(false)) kick();  // a running vCPU leaves KVM_RUN and parks
}

// A vCPU that is down: no upcalls, no VIRQ_TIMER, no CPU. Events for it stay pending in
// its vcpu_info, and a timer deadline that passes meanwhile fires once it is up again (as
// Xen, whose timer of a downed vCPU raises its VIRQ into the pending bits): a guest that
// downed another vCPU finds that vCPU's timer as it left it. A vCPU downing itself
// cancels its timer first (the guest kernel does).
void VcpuRunner::park() noexcept {
    for (;;) {
        state_.store(State::blocked);  // publish before looking (see the header)
        if (up_.load() || domain_.stopping()) break;
        if (capture_wanted_.load()) {
            state_.store(State::in_monitor);
            serve_capture();
            continue;
        }
        wait_kick(0);
    }
    state_.store(State::in_monitor);
}

bool VcpuRunner::set_segment_base(SegmentBase which, std::uint64_t base) noexcept {
    try {  // only a failing ioctl builds an error message (and may allocate)
        auto sregs = vcpu_->get_sregs();
        if (!sregs) return false;
        (which == SegmentBase::fs ? sregs->fs : sregs->gs).base = base;
        return bool(vcpu_->set_sregs(*sregs));
    } catch (...) {
        return false;
    }
}

void VcpuRunner::set_timer(std::uint64_t deadline_ns) noexcept {
    timer_deadline_.store(deadline_ns);
    if (!host_timer_) return;
    itimerspec spec{};
    if (deadline_ns) {
        std::uint64_t host = domain_.clock().to_host_monotonic_ns(deadline_ns);
        spec.it_value.tv_sec = time_t(host / 1'000'000'000);
        spec.it_value.tv_nsec = long(host % 1'000'000'000);
        if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
    }
    ::timer_settime(*host_timer_, TIMER_ABSTIME, &spec, nullptr);
}

void VcpuRunner::fire_timer_if_due() noexcept {
    std::uint64_t deadline = timer_deadline_.load();
    if (!deadline || domain_.clock().now_ns() < deadline) return;
    if (timer_deadline_.compare_exchange_strong(deadline, 0))
        domain_.events().raise_virq(VIRQ_TIMER, index());
}

// SCHED_BATCH: a vCPU woken by a backend (an event for its guest) never preempts the
// waker. Without it, the kernel's wakeup preemption often ran the woken vCPU on the
// backend's own CPU at once, and the backend's eventfd write took 105-300 us instead of a
// few (the backend then waited for the CPU its guest was polling on). A batch thread
// still goes to an idle CPU at once; on a busy one it waits for the next scheduling
// point. DOMUS_VCPU_SCHED=normal keeps the default policy (for comparisons).
void VcpuRunner::run_as_batch_thread() noexcept {
    const char* policy = ::getenv("DOMUS_VCPU_SCHED");
    if (policy && std::strcmp(policy, "normal") == 0) return;
    sched_param none{};
    if (int error = ::pthread_setschedparam(::pthread_self(), SCHED_BATCH, &none); error != 0)
        DOMUS_LOG_WARN("vmm", "vcpu{}: SCHED_BATCH refused: {}", index(), std::strerror(error));
}

void VcpuRunner::thread_main() {
    thread_id_.store(::pthread_self());
    tid_.store(int(::syscall(SYS_gettid)), std::memory_order_release);
    tid_.notify_all();
    ::pthread_setname_np(::pthread_self(), ("vcpu" + std::to_string(index())).c_str());
    run_as_batch_thread();
    t_kvm_run = vcpu_->run_state();
    sigevent event{};
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = kKickSignal;
    event._sigev_un._tid = pid_t(::syscall(SYS_gettid));
    timer_t timer;
    if (::timer_create(CLOCK_MONOTONIC, &event, &timer) == 0) host_timer_ = timer;
    if (std::uint64_t deadline = timer_deadline_.load()) set_timer(deadline);  // restored
    run_loop();
    state_.store(State::in_monitor);
    if (host_timer_) {
        // Deleted here, not in join(): a timer aimed at an exited thread's id could
        // hit a later thread that reuses it.
        ::timer_delete(*host_timer_);
        host_timer_.reset();
    }
    t_kvm_run = nullptr;
}

void VcpuRunner::wait_kick(std::uint64_t deadline_ns) {
    pollfd fd{kick_fd_.get(), POLLIN, 0};
    timespec timeout{}, *timeout_ptr = nullptr;
    if (deadline_ns) {
        std::uint64_t now = domain_.clock().now_ns();
        std::uint64_t wait = deadline_ns > now ? deadline_ns - now : 0;
        timeout.tv_sec = time_t(wait / 1'000'000'000);
        timeout.tv_nsec = long(wait % 1'000'000'000);
        timeout_ptr = &timeout;
    }
    ::ppoll(&fd, 1, timeout_ptr, nullptr);
    std::uint64_t value;
    [[maybe_unused]] auto n = ::read(kick_fd_.get(), &value, sizeof(value));
}

void VcpuRunner::block_until(WakeCondition ready, std::uint64_t deadline_ns) noexcept {
    stats_.blocks.fetch_add(1, std::memory_order_relaxed);
    for (;;) {
        state_.store(State::blocked);  // publish before looking (see the header)
        fire_timer_if_due();
        if (ready() || domain_.stopping()) break;
        if (!up_.load()) break;             // downed by another vCPU: park (run_loop), not block
        if (capture_wanted_.load()) break;  // a save: return (a spurious wake) to be taken
        if (deadline_ns && domain_.clock().now_ns() >= deadline_ns) break;
        std::uint64_t wake = timer_deadline_.load();
        if (deadline_ns && (!wake || deadline_ns < wake)) wake = deadline_ns;
        wait_kick(wake);
    }
    state_.store(State::in_monitor);
}

void VcpuRunner::apply_start_context() {
    std::lock_guard lock(start_mutex_);
    if (!start_context_ || context_applied_) return;
    kvm_regs& regs = vcpu_->regs();
    std::memset(&regs, 0, sizeof(regs));
    regs.rip = start_context_->rip;
    regs.rsp = start_context_->rsp;
    regs.rdi = start_context_->rdi;
    if (index() == 0) regs.rsi = domain_.layout().start_info;
    regs.rflags = 0x3202;
    vcpu_->mark_regs_dirty();
    if (start_context_->fs_base || start_context_->gs_base) {
        if (auto sregs = vcpu_->get_sregs()) {
            sregs->fs.base = start_context_->fs_base;
            sregs->gs.base = start_context_->gs_base;
            if (!vcpu_->set_sregs(*sregs))
                DOMUS_LOG_WARN("vmm", "vcpu{}: cannot set segment bases", index());
        }
    }
    if (vcpu_info* info = domain_.vcpu_info_of(index())) {
        info->evtchn_upcall_mask = 1;
        domain_.clock().publish(info->time);
    }
    context_applied_ = true;
    io_pending_ = false;
}

bool VcpuRunner::upcall_wanted() noexcept {
    if (!upcall_entry_) return false;
    vcpu_info* info = domain_.vcpu_info_of(index());
    if (!info) return false;
    return std::atomic_ref<std::uint8_t>(info->evtchn_upcall_pending).load() &&
           !std::atomic_ref<std::uint8_t>(info->evtchn_upcall_mask).load();
}

void VcpuRunner::inject_upcall() {
    if (io_pending_) {
        // KVM finishes the port write (and advances RIP) only inside KVM_RUN; with
        // immediate_exit it does so without running guest code (api.rst, KVM_RUN).
        vcpu_->run_state()->immediate_exit = 1;
        vcpu_->run();
        vcpu_->run_state()->immediate_exit = 0;
        io_pending_ = false;
    }
    kvm_regs& regs = vcpu_->regs();
    std::uint64_t frame = regs.rsp - DOMUS_UPCALL_RED_ZONE - sizeof(domus_upcall_frame);
    domus_upcall_frame saved{regs.rflags, regs.rip};
    if (regs.rsp < kImageBase + DOMUS_UPCALL_RED_ZONE + sizeof(saved) ||
        !domain_.memory().write(frame, saved)) {
        report_fault("event upcall with the stack pointer outside guest memory");
        return;
    }
    vcpu_info* info = domain_.vcpu_info_of(index());
    std::atomic_ref<std::uint8_t>(info->evtchn_upcall_mask).store(1);
    regs.rsp = frame;
    regs.rip = upcall_entry_;
    regs.rflags &= ~(kRflagsTrap | kRflagsDirection | kRflagsAlign);
    vcpu_->mark_regs_dirty();
    stats_.upcalls.fetch_add(1, std::memory_order_relaxed);
}

void VcpuRunner::run_loop() {
    kvm_run* run = vcpu_->run_state();
    while (!domain_.stopping()) {
        if (!up_.load()) {
            park();
            continue;
        }
        if (domain_.paused()) {
            block_until([&] { return !domain_.paused(); }, 0);
            serve_capture();
            continue;
        }
        apply_start_context();
        state_.store(State::running);  // publish before looking (see the header)
        fire_timer_if_due();
        if (upcall_wanted()) inject_upcall();
        if (domain_.stopping() || !up_.load() || domain_.paused()) continue;
        int result = vcpu_->run();
        int error = errno;
        state_.store(State::in_monitor);
        run->immediate_exit = 0;
        if (result < 0) {
            if (error == EINTR || error == EAGAIN) continue;
            domain_.stop({ExitKind::error, 0,
                          fmt::format("vcpu{}: KVM_RUN: {}", index(), std::strerror(error))});
            return;
        }
        stats_.exits.fetch_add(1, std::memory_order_relaxed);
        io_pending_ = false;
        handle_exit();
    }
}

void VcpuRunner::handle_exit() {
    kvm_run* run = vcpu_->run_state();
    switch (run->exit_reason) {
        case KVM_EXIT_IO:
            handle_io();
            break;
        case KVM_EXIT_SHUTDOWN:
            report_fault("triple fault (an exception the CPL3 kernel cannot handle)");
            break;
        case KVM_EXIT_FAIL_ENTRY:
            report_fault(fmt::format("entry failed (hardware reason {:#x})",
                                     run->fail_entry.hardware_entry_failure_reason)
                             .c_str());
            break;
        case KVM_EXIT_INTERNAL_ERROR:
            report_fault(fmt::format("KVM internal error {}", run->internal.suberror).c_str());
            break;
        case KVM_EXIT_MMIO:
            report_fault(
                fmt::format("access to {:#x} outside guest memory", run->mmio.phys_addr).c_str());
            break;
        case KVM_EXIT_HLT:
            break;
        case KVM_EXIT_INTR:
            break;
        default:
            report_fault(fmt::format("unexpected KVM exit reason {}", run->exit_reason).c_str());
            break;
    }
}

void VcpuRunner::handle_io() {
    kvm_run* run = vcpu_->run_state();
    auto* data = reinterpret_cast<std::uint8_t*>(run) + run->io.data_offset;
    bool out = run->io.direction == KVM_EXIT_IO_OUT;
    if (out && run->io.size == 4 && run->io.count == 1) {
        std::uint32_t value;
        std::memcpy(&value, data, 4);
        if (run->io.port == DOMUS_HYPERCALL_PORT) {
            io_pending_ = port_write_unfinished(DOMUS_HYPERCALL_PORT);
            stats_.hypercalls.fetch_add(1, std::memory_order_relaxed);
            kvm_regs& regs = vcpu_->regs();
            HypercallRegs args{regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8};
            regs.rax = std::uint64_t(dispatch_hypercall(domain_, *this, value, args));
            vcpu_->mark_regs_dirty();
            return;
        }
        if (run->io.port == DOMUS_DOORBELL_PORT) {
            io_pending_ = port_write_unfinished(DOMUS_DOORBELL_PORT);
            stats_.doorbells.fetch_add(1, std::memory_order_relaxed);
            domain_.events().send(value);
            return;
        }
    }
    io_pending_ = true;  // an `in` (or string I/O) completes only in the next KVM_RUN
    bool ours = run->io.port == DOMUS_HYPERCALL_PORT || run->io.port == DOMUS_DOORBELL_PORT;
    if (auto* device = ours ? nullptr : domain_.pio_device(run->io.port)) {
        std::size_t bytes = std::size_t(run->io.size) * run->io.count;
        device->io(run->io.port, run->io.size, run->io.count, out,
                   {reinterpret_cast<std::byte*>(data), bytes});
        return;
    }
    static log::RateLimit limit;
    if (limit.allow())
        DOMUS_LOG_WARN("vmm", "vcpu{}: port {} {:#x} (size {}) has no device", index(),
                       out ? "write to" : "read from", run->io.port, run->io.size);
    if (!out) std::memset(data, 0xFF, std::size_t(run->io.size) * run->io.count);
}

bool VcpuRunner::port_write_unfinished(std::uint8_t port) noexcept {
    // PVM emulates the trapped `out` and exits with RIP already past it; hardware KVM's
    // fast path exits with RIP still at it and finishes it on the next KVM_RUN. Only
    // the second case needs a completing re-entry before an upcall moves RIP.
    std::uint8_t insn[2];
    return domain_.memory().read(vcpu_->regs().rip, insn) && insn[0] == 0xE7 && insn[1] == port;
}

void VcpuRunner::report_fault(const char* what) {
    const kvm_regs& r = vcpu_->regs();
    std::string detail = fmt::format(
        "vcpu{}: {}\n"
        "  rip={:016x} rsp={:016x} rflags={:016x}\n"
        "  rax={:016x} rbx={:016x} rcx={:016x} rdx={:016x}\n"
        "  rsi={:016x} rdi={:016x} rbp={:016x} r8 ={:016x}\n"
        "  r9 ={:016x} r10={:016x} r11={:016x} r12={:016x}\n"
        "  r13={:016x} r14={:016x} r15={:016x}",
        index(), what, r.rip, r.rsp, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp,
        r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15);
    domain_.stop({ExitKind::crash, 0, std::move(detail)});
}

Result<VcpuSnapshot> VcpuRunner::capture() {
    std::unique_lock lock(capture_mutex_);
    capture_result_.reset();
    if (!thread_.joinable() || tid_.load() == 0) {
        lock.unlock();
        return take_snapshot();  // no thread (yet): nobody else touches the vCPU
    }
    capture_wanted_.store(true);
    kick();
    if (!capture_cv_.wait_for(lock, std::chrono::seconds(5),
                              [&] { return capture_result_.has_value(); })) {
        capture_wanted_.store(false);
        return make_error("vcpu{}: its state could not be taken (the vCPU did not stop)", index());
    }
    return std::move(*capture_result_);
}

void VcpuRunner::serve_capture() noexcept {
    if (!capture_wanted_.load()) return;
    Result<VcpuSnapshot> snapshot = make_error("vcpu{}: out of memory", index());
    try {
        snapshot = take_snapshot();
    } catch (...) {
    }
    std::lock_guard lock(capture_mutex_);
    capture_result_ = std::move(snapshot);
    capture_wanted_.store(false);
    capture_cv_.notify_all();
}

Result<VcpuSnapshot> VcpuRunner::take_snapshot() {
    // KVM completes a port write in flight (advancing RIP past it) and loads the registers
    // the monitor changed only inside KVM_RUN; immediate_exit does that without running
    // guest code and stores the registers back into kvm_run.
    kvm_run* run = vcpu_->run_state();
    run->immediate_exit = 1;
    vcpu_->run();
    run->immediate_exit = 0;
    io_pending_ = false;
    VcpuSnapshot snapshot;
    snapshot.regs = vcpu_->regs();
    DOMUS_TRY(sregs, vcpu_->get_sregs());
    snapshot.sregs = sregs;
    DOMUS_TRY(xsave, vcpu_->get_xsave(domain_.xsave_size()));
    snapshot.xsave = std::move(xsave);
    DOMUS_TRY(xcrs, vcpu_->get_xcrs());
    snapshot.xcrs = xcrs;
    snapshot.up = up_.load();
    {
        std::lock_guard lock(start_mutex_);
        snapshot.initialised = start_context_.has_value();
    }
    snapshot.vcpu_info_gpa = vcpu_info_gpa_.load();
    snapshot.vcpu_info_registered = vcpu_info_registered_.load();
    snapshot.upcall_entry = upcall_entry_;
    snapshot.timer_deadline_ns = timer_deadline_.load();
    return snapshot;
}

Result<void> VcpuRunner::restore(const VcpuSnapshot& snapshot) {
    DOMUS_TRY_VOID(vcpu_->set_sregs(snapshot.sregs));
    DOMUS_TRY_VOID(vcpu_->set_xcrs(snapshot.xcrs));
    DOMUS_TRY_VOID(vcpu_->set_xsave(snapshot.xsave));
    vcpu_->regs() = snapshot.regs;
    vcpu_->mark_regs_dirty();
    up_.store(snapshot.up);
    vcpu_info_gpa_.store(snapshot.vcpu_info_gpa);
    vcpu_info_registered_.store(snapshot.vcpu_info_registered);
    upcall_entry_ = snapshot.upcall_entry;
    timer_deadline_.store(snapshot.timer_deadline_ns);  // armed on the host when it runs
    {
        // Its context is in the registers: VCPUOP_up resumes it where it stopped (a vCPU
        // that was down at the save), as it would have here.
        std::lock_guard lock(start_mutex_);
        if (snapshot.initialised || snapshot.up) {
            start_context_ = domus_vcpu_context{};
            context_applied_ = true;
        } else {
            start_context_.reset();
            context_applied_ = false;
        }
    }
    io_pending_ = false;
    return {};
}

}  // namespace domus::monitor
