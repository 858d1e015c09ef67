// vcpu_op, callback_op and set_segment_base: bringing vCPUs up and down, their timers,
// where their vcpu_info lives, their event callback and segment bases.
#include <atomic>
#include <cstring>
#include <mutex>

#include "base/checked.hpp"
#include "monitor/hypercalls/families.hpp"

namespace domus::monitor::hypercalls {
namespace {

bool overlaps(std::uint64_t a, std::uint64_t a_size, std::uint64_t b, std::uint64_t b_size) {
    return a < b + b_size && b < a + a_size;  // all below the 64 GiB memory limit
}

// Where a vcpu_info may go: plain guest RAM, away from the hypercall page and from
// every other vCPU's live vcpu_info. The monitor area (TSS, start_info, shared_info with
// its legacy vcpu_info slots, rings, boot stack, page tables) is the monitor's.
bool acceptable_vcpu_info(HypercallDomain& domain, const HypercallVcpu& target, std::uint64_t gpa) {
    constexpr std::uint64_t kSize = sizeof(vcpu_info);
    if (gpa < kImageBase || !range_within(gpa, kSize, domain.layout().monitor_area)) return false;
    if (overlaps(gpa, kSize, domain.hypercall_page(), kPageSize)) return false;
    for (std::uint32_t i = 0; i < domain.nr_vcpus(); ++i) {
        const HypercallVcpu* other = domain.vcpu(i);
        if (!other || other == &target) continue;
        if (std::uint64_t live = other->vcpu_info_gpa(); live && overlaps(gpa, kSize, live, kSize))
            return false;
    }
    return true;
}

// The events part of a vcpu_info, read with the atomics other threads write it with.
vcpu_info snapshot(vcpu_info& old) {
    vcpu_info copy{};
    copy.evtchn_upcall_pending = std::atomic_ref<std::uint8_t>(old.evtchn_upcall_pending).load();
    copy.evtchn_upcall_mask = std::atomic_ref<std::uint8_t>(old.evtchn_upcall_mask).load();
    copy.evtchn_pending_sel = std::atomic_ref<std::uint64_t>(old.evtchn_pending_sel).load();
    std::memcpy(&copy.arch, &old.arch, sizeof(copy.arch));  // the guest's own field
    return copy;
}

// As Xen's map_vcpu_info: once per vCPU, only for the caller itself or a vCPU that is
// down (so nothing runs on the target while its vcpu_info moves). Events raised on the
// old place meanwhile are re-delivered by resync_vcpu from the shared pending bits.
std::int64_t register_vcpu_info(HypercallDomain& domain, HypercallVcpu& caller,
                                HypercallVcpu& target, GuestAddr arg) {
    vcpu_register_vcpu_info request;
    if (!domain.memory().read(arg.gpa, request)) return -XEN_EFAULT;
    if (request.offset > kPageSize - sizeof(vcpu_info) || request.offset % 8 != 0)
        return -XEN_EINVAL;
    if (request.mfn >= domain.nr_pages()) return -XEN_EINVAL;
    const std::uint64_t gpa = request.mfn * kPageSize + request.offset;  // < memory size

    std::lock_guard lock(domain.vcpu_lock());
    if (&target != &caller && target.is_up()) return -XEN_EINVAL;
    if (target.vcpu_info_registered()) return -XEN_EINVAL;  // once only, as in Xen
    if (!acceptable_vcpu_info(domain, target, gpa)) return -XEN_EINVAL;
    vcpu_info* fresh = domain.memory().object<vcpu_info>(gpa);
    if (!fresh) return -XEN_EINVAL;
    vcpu_info copy{};
    if (vcpu_info* old = domain.vcpu_info_of(target.index())) {
        copy = snapshot(*old);
    } else {
        copy.evtchn_upcall_mask = 1;
    }
    std::memcpy(fresh, &copy, sizeof(copy));  // through a copy: the ranges never alias
    domain.clock().publish(fresh->time);
    target.move_vcpu_info(gpa);
    domain.events().resync_vcpu(target.index());
    return kOk;
}

std::int64_t initialise(HypercallDomain& domain, HypercallVcpu& target, GuestAddr arg) {
    domus_vcpu_context context;
    if (!domain.memory().read(arg.gpa, context)) return -XEN_EFAULT;
    const std::uint64_t memory_size = domain.layout().memory_size;
    if (context.rip < kImageBase || context.rip >= memory_size) return -XEN_EINVAL;
    if (context.rsp < kImageBase || context.rsp > memory_size) return -XEN_EINVAL;
    if ((context.fs_base >> 47) || (context.gs_base >> 47))
        return -XEN_EINVAL;  // canonical, lower half
    return target.initialise(context);
}

}  // namespace

std::int64_t vcpu_op(HypercallDomain& domain, HypercallVcpu& caller, VcpuOpArgs args) noexcept {
    HypercallVcpu* target =
        args.vcpu() < domain.nr_vcpus() ? domain.vcpu(std::uint32_t(args.vcpu())) : nullptr;
    if (!target) return -XEN_ENOENT;
    switch (args.cmd()) {
        case VCPUOP_initialise:
            return initialise(domain, *target, args.arg());
        case VCPUOP_up: {
            std::lock_guard lock(domain.vcpu_lock());  // not while its vcpu_info moves
            return target->bring_up();
        }
        case VCPUOP_down: {
            // As Xen: synchronous for the caller itself (it parks on return), asynchronous
            // for another vCPU (it parks before its next guest entry).
            std::lock_guard lock(domain.vcpu_lock());  // not while it is brought up
            target->go_down();
            return kOk;
        }
        case VCPUOP_is_up:
            return target->is_up() ? 1 : 0;
        case VCPUOP_set_singleshot_timer: {
            if (target != &caller) return -XEN_EINVAL;
            vcpu_set_singleshot_timer timer;
            if (!domain.memory().read(args.arg().gpa, timer)) return -XEN_EFAULT;
            std::uint64_t deadline = timer.timeout_abs_ns;
            caller.set_timer(deadline ? sane_deadline(domain.clock(), deadline) : 0);
            return kOk;
        }
        case VCPUOP_stop_singleshot_timer:
            if (target != &caller) return -XEN_EINVAL;
            caller.set_timer(0);
            return kOk;
        case VCPUOP_register_vcpu_info:
            return register_vcpu_info(domain, caller, *target, args.arg());
        default:
            return -XEN_ENOSYS;
    }
}

std::int64_t callback_op(HypercallDomain& domain, HypercallVcpu& caller,
                         CallbackOpArgs args) noexcept {
    callback_register request;
    if (!domain.memory().read(args.arg().gpa, request)) return -XEN_EFAULT;
    if (request.type != CALLBACKTYPE_event || request.flags != 0) return -XEN_EINVAL;
    switch (args.cmd()) {
        case CALLBACKOP_register:
            if (request.address < kImageBase || request.address >= domain.layout().memory_size)
                return -XEN_EINVAL;
            caller.set_upcall_entry(request.address);
            return kOk;
        case CALLBACKOP_unregister:
            caller.set_upcall_entry(0);
            return kOk;
        default:
            return -XEN_ENOSYS;
    }
}

std::int64_t set_segment_base(HypercallVcpu& caller, SetSegmentBaseArgs args) noexcept {
    if (args.base() >> 47) return -XEN_EINVAL;
    SegmentBase which;
    switch (args.which()) {
        case SEGBASE_FS:
            which = SegmentBase::fs;
            break;
        case SEGBASE_GS_USER:
            which = SegmentBase::gs_user;
            break;
        default:
            return -XEN_EINVAL;
    }
    return caller.set_segment_base(which, args.base()) ? kOk : -XEN_EIO;
}

}  // namespace domus::monitor::hypercalls
