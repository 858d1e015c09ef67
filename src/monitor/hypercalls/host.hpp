// What the hypercall handlers need of the domain and of its vCPUs: two small interfaces
// that Domain and VcpuRunner implement, and that the unit tests fake without /dev/kvm.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <type_traits>

#include "monitor/domain_exit.hpp"
#include "monitor/event_channels.hpp"
#include "monitor/grant_table.hpp"
#include "monitor/guest_clock.hpp"
#include "monitor/guest_memory.hpp"
#include "monitor/layout.hpp"
#include "monitor/reservation.hpp"

#include <domus/abi/shared_info.h>
#include <domus/abi/vcpu.h>

namespace domus::monitor {

// A non-owning reference to a `bool()` callable: what a vCPU waits for. Unlike
// std::function it never allocates, so blocking stays on the allocation-free path.
class WakeCondition {
public:
    template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, WakeCondition> &&
             std::is_invocable_r_v<bool, F&>) WakeCondition(F&& ready)
    noexcept  // NOLINT: implicit, like function_ref
        : object_(const_cast<void*>(static_cast<const void*>(std::addressof(ready)))),
          call_([](void* object) {
              return bool((*static_cast<std::remove_reference_t<F>*>(object))());
          }) {}
    bool operator()() const { return call_(object_); }

private:
    void* object_;
    bool (*call_)(void*);
};

enum class SegmentBase { fs, gs_user };

// One vCPU as the handlers see it. The caller's own vCPU runs the hypercall on its
// thread; any other vCPU is a target of a cross-vCPU operation.
class HypercallVcpu {
public:
    virtual ~HypercallVcpu() = default;
    virtual std::uint32_t index() const noexcept = 0;

    // Cross-vCPU state (VCPUOP_initialise/up/is_up): any thread.
    virtual int initialise(const domus_vcpu_context& context) noexcept = 0;
    virtual int bring_up() noexcept = 0;
    virtual bool is_up() const noexcept = 0;

    // The vcpu_info: where it lives (0: none) and whether the guest placed it already.
    // move_vcpu_info only under HypercallDomain::vcpu_lock(), with the vCPU not running.
    virtual std::uint64_t vcpu_info_gpa() const noexcept = 0;
    virtual bool vcpu_info_registered() const noexcept = 0;
    virtual void move_vcpu_info(std::uint64_t gpa) noexcept = 0;

    // The caller's own services, on its own thread.
    virtual void go_down() noexcept = 0;
    virtual void set_timer(std::uint64_t deadline_ns) noexcept = 0;  // 0 cancels
    virtual void block_until(WakeCondition ready, std::uint64_t deadline_ns) noexcept = 0;
    virtual void set_upcall_entry(std::uint64_t address) noexcept = 0;
    virtual bool set_segment_base(SegmentBase which, std::uint64_t base) noexcept = 0;
};

// The domain as the handlers see it.
class HypercallDomain {
public:
    virtual ~HypercallDomain() = default;
    virtual domid_t domid() const noexcept = 0;
    virtual const Layout& layout() const noexcept = 0;
    virtual GuestMemory& memory() noexcept = 0;
    virtual const GuestClock& clock() const noexcept = 0;
    virtual EventChannels& events() noexcept = 0;
    virtual GrantTable& grants() noexcept = 0;
    // Which frames hold memory (memory_op's increase/decrease/current/maximum).
    virtual Reservation& reservation() noexcept = 0;
    // The guest page the monitor filled with hypercall stubs (inside the image).
    virtual std::uint64_t hypercall_page() const noexcept = 0;

    virtual std::uint32_t nr_vcpus() const noexcept = 0;
    virtual HypercallVcpu* vcpu(std::uint32_t index) noexcept = 0;
    virtual vcpu_info* vcpu_info_of(std::uint32_t vcpu) noexcept = 0;
    // Serialises the operations that look at one vCPU from another (up, vcpu_info).
    virtual std::mutex& vcpu_lock() noexcept = 0;

    virtual void console_write(std::span<const char> text) noexcept = 0;
    virtual std::size_t console_read(std::span<char> buffer) noexcept = 0;
    // A guest-requested end (poweroff, reboot, crash, watchdog); first one wins.
    virtual void guest_shutdown(ExitKind kind, std::uint32_t code) noexcept = 0;
    // SHUTDOWN_suspend from vCPU `vcpu`: what SCHEDOP_shutdown returns (Xen: 1 when the
    // suspend was cancelled and the domain goes on where it was).
    virtual std::int64_t guest_suspend(std::uint32_t /*vcpu*/) noexcept { return -XEN_EOPNOTSUPP; }
    virtual void set_pending_crash_reason(std::uint32_t reason) noexcept = 0;
    // Counts a hypercall number nobody handles (DomainStats::unknown_hypercalls).
    virtual void count_unknown_hypercall() noexcept = 0;

    std::uint64_t nr_pages() const noexcept { return layout().memory_size / kPageSize; }
};

}  // namespace domus::monitor
