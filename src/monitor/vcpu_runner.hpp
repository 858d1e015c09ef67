// VcpuRunner: one vCPU's thread. Runs KVM_RUN in a loop with the exit switch in
// plain sight, blocks the vCPU in the monitor for SCHEDOP_block/poll, keeps its
// one-shot timer, and injects event upcalls onto the guest stack.
//
// Wake-ups: kick() after setting upcall_pending (or any reason to look again). The
// vCPU publishes its state before it checks for work, the kicker after it set the
// work (both sequentially consistent), so one of them always sees the other:
// running -> a signal makes KVM_RUN return (immediate_exit); blocked -> eventfd.
#pragma once

#include <pthread.h>
#include <time.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/fd.hpp"
#include "base/result.hpp"
#include "kvm/kvm.hpp"
#include "monitor/hypercalls/host.hpp"

#include <domus/abi/shared_info.h>
#include <domus/abi/vcpu.h>

namespace domus::monitor {

class Domain;

// A vCPU's whole state for save and restore: KVM's registers, segment registers,
// extended state and XCRs, and what the monitor keeps for it (domain_save.cpp).
struct VcpuSnapshot {
    kvm_regs regs{};
    kvm_sregs sregs{};
    std::vector<std::uint8_t> xsave;
    kvm_xcrs xcrs{};
    bool up = false;
    bool initialised = false;  // VCPUOP_initialise done (a down vCPU may come up again)
    std::uint64_t vcpu_info_gpa = 0;
    bool vcpu_info_registered = false;
    std::uint64_t upcall_entry = 0;
    std::uint64_t timer_deadline_ns = 0;
};

struct VcpuStats {
    std::atomic<std::uint64_t> exits{0};
    std::atomic<std::uint64_t> hypercalls{0};
    std::atomic<std::uint64_t> doorbells{0};  // slow-path doorbells (no backend listening)
    std::atomic<std::uint64_t> upcalls{0};
    std::atomic<std::uint64_t> blocks{0};
};

class VcpuRunner final : public HypercallVcpu {
public:
    VcpuRunner(Domain& domain, std::unique_ptr<kvm::Vcpu> vcpu, std::uint64_t default_vcpu_info);
    ~VcpuRunner() override;

    std::uint32_t index() const noexcept override { return std::uint32_t(vcpu_->index()); }
    kvm::Vcpu& kvm() noexcept { return *vcpu_; }
    VcpuStats& stats() noexcept { return stats_; }

    void start_thread();
    bool thread_started() const noexcept { return thread_.joinable(); }
    // Waits until the thread start_thread() started runs (its host_tid() is known).
    void wait_started() noexcept;
    void join();
    void kick() noexcept;

    // Guest-physical address of this vCPU's vcpu_info (0: none registered yet).
    std::uint64_t vcpu_info_gpa() const noexcept override {
        return vcpu_info_gpa_.load(std::memory_order_acquire);
    }
    bool vcpu_info_registered() const noexcept override {
        return vcpu_info_registered_.load(std::memory_order_acquire);
    }
    // Under the domain's vcpu_lock(), with this vCPU down or calling (hypercalls/vcpu.cpp).
    void move_vcpu_info(std::uint64_t gpa) noexcept override {
        vcpu_info_gpa_.store(gpa, std::memory_order_release);
        vcpu_info_registered_.store(true, std::memory_order_release);
    }

    // Hypercall services, called on this vCPU's own thread.
    void set_timer(std::uint64_t deadline_ns) noexcept override;  // 0 cancels
    // Sleeps until `ready()` or the deadline (system ns; 0 = none). The timer VIRQ still
    // fires meanwhile. Returns early when the domain stops.
    void block_until(WakeCondition ready, std::uint64_t deadline_ns) noexcept override;
    // VCPUOP_down (under the domain's vcpu_lock(), from any vCPU, as Xen): the vCPU parks
    // before its next guest entry (no upcalls, its timer held back) until bring_up(); it
    // then resumes where it stopped (after its own VCPUOP_down, when it downed itself).
    void go_down() noexcept override;
    // The event callback (CALLBACKOP_register), per vCPU as in Xen; 0: none.
    void set_upcall_entry(std::uint64_t address) noexcept override { upcall_entry_ = address; }
    bool set_segment_base(SegmentBase which, std::uint64_t base) noexcept override;

    // Save: the vCPU's state, taken on its own thread (which first lets KVM finish a
    // port write in flight), with the domain paused. From any other thread.
    Result<VcpuSnapshot> capture();
    // Restore: before the thread starts.
    Result<void> restore(const VcpuSnapshot& snapshot);

    // Cross-vCPU operations (VCPUOP_initialise/up/is_up), callable from any thread.
    int initialise(const domus_vcpu_context& context) noexcept override;
    int bring_up() noexcept override;
    bool is_up() const noexcept override { return up_.load(); }
    bool blocked() const noexcept { return state_.load() == State::blocked; }
    // The host thread's id (0 until the thread runs), for `info` and host-side pinning.
    int host_tid() const noexcept { return tid_.load(std::memory_order_acquire); }

private:
    enum class State : int { in_monitor, running, blocked };

    void thread_main();
    void run_as_batch_thread() noexcept;
    void run_loop();
    void handle_exit();
    void handle_io();
    void apply_start_context();
    void fire_timer_if_due() noexcept;
    bool upcall_wanted() noexcept;
    void inject_upcall();
    void wait_kick(std::uint64_t deadline_ns);
    void park() noexcept;
    void report_fault(const char* what);
    bool port_write_unfinished(std::uint8_t port) noexcept;
    void serve_capture() noexcept;
    Result<VcpuSnapshot> take_snapshot();

    Domain& domain_;
    std::unique_ptr<kvm::Vcpu> vcpu_;
    std::thread thread_;
    std::atomic<pthread_t> thread_id_{};
    std::atomic<int> tid_{0};
    Fd kick_fd_;
    std::atomic<State> state_{State::in_monitor};
    std::atomic<bool> up_{false};
    std::atomic<std::uint64_t> vcpu_info_gpa_;
    std::atomic<bool> vcpu_info_registered_{false};
    std::atomic<std::uint64_t> timer_deadline_{0};
    std::optional<timer_t> host_timer_;
    bool io_pending_ = false;         // the last exit was a port write KVM has not completed
    std::uint64_t upcall_entry_ = 0;  // only this vCPU's thread touches it

    std::mutex start_mutex_;
    std::optional<domus_vcpu_context> start_context_;
    bool context_applied_ = false;
    VcpuStats stats_;

    std::mutex capture_mutex_;
    std::condition_variable capture_cv_;
    std::atomic<bool> capture_wanted_{false};
    std::optional<Result<VcpuSnapshot>> capture_result_;  // (capture_mutex_)
};

}  // namespace domus::monitor
