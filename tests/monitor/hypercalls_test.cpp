// Tests for monitor/hypercalls: the dispatch table and every family, against a fake
// domain and fake vCPUs (no /dev/kvm): real guest memory, event channels and grant table.
#include "monitor/hypercalls.hpp"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "base/fd.hpp"
#include "hypercall_fakes.hpp"

#include <domus/abi/console.h>
#include <domus/abi/event_channel.h>
#include <domus/abi/grant_table.h>
#include <domus/abi/memory.h>
#include <domus/abi/sched.h>
#include <domus/abi/vcpu.h>
#include <domus/abi/version.h>

// ---- Counting every allocation of the thread that runs a hypercall -------------------
// The replaced operators pair malloc with free; GCC cannot see that they replace the
// standard ones and warns about new/free mismatches it infers from inlining.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
thread_local bool t_counting = false;
thread_local std::uint64_t t_allocations = 0;
}  // namespace

void* operator new(std::size_t size) {
    if (t_counting) ++t_allocations;
    if (void* p = std::malloc(size ? size : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

namespace domus::monitor {
namespace {

using fakes::FakeDomain;
using fakes::FakeVcpu;
using fakes::kDomid;
using fakes::kHypercallPage;
using fakes::kMemory;
using fakes::kScratch;

class HypercallsTest : public ::testing::Test {
protected:
    std::int64_t call(std::uint32_t nr, std::uint64_t a1 = 0, std::uint64_t a2 = 0,
                      std::uint64_t a3 = 0, std::uint32_t vcpu = 0) {
        return dispatch_hypercall(domain, *domain.vcpu(vcpu), nr, HypercallRegs{a1, a2, a3, 0, 0});
    }
    // Puts `value` into guest RAM at `gpa` and returns the address.
    template <class T>
    std::uint64_t put(const T& value, std::uint64_t gpa = kScratch) {
        EXPECT_TRUE(domain.memory().write(gpa, value));
        return gpa;
    }
    template <class T>
    T get(std::uint64_t gpa = kScratch) {
        T value{};
        EXPECT_TRUE(domain.memory().read(gpa, value));
        return value;
    }
    std::int64_t register_vcpu_info(std::uint32_t target, std::uint64_t gpa,
                                    std::uint32_t caller = 0) {
        vcpu_register_vcpu_info request{};
        request.mfn = gpa / kPageSize;
        request.offset = std::uint32_t(gpa % kPageSize);
        return call(__HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info, target, put(request), caller);
    }

    FakeDomain domain{4};
    const Layout& layout = domain.layout();
};

// ---- Dispatch ---------------------------------------------------------------------------

TEST_F(HypercallsTest, UnknownHypercallsAreCountedAndAnsweredEnosys) {
    EXPECT_EQ(call(99), -XEN_ENOSYS);
    EXPECT_EQ(call(0xffffffff), -XEN_ENOSYS);
    EXPECT_EQ(domain.unknown, 2u);
}

TEST_F(HypercallsTest, UnknownSubcommandsAreEnosysButNotUnknownHypercalls) {
    EXPECT_EQ(call(__HYPERVISOR_console_io, 77), -XEN_ENOSYS);
    EXPECT_EQ(call(__HYPERVISOR_sched_op, 77), -XEN_ENOSYS);
    EXPECT_EQ(call(__HYPERVISOR_event_channel_op, 77), -XEN_ENOSYS);
    EXPECT_EQ(call(__HYPERVISOR_grant_table_op, 77), -XEN_ENOSYS);
    EXPECT_EQ(call(__HYPERVISOR_memory_op, 77), -XEN_ENOSYS);
    EXPECT_EQ(call(__HYPERVISOR_xen_version, 77), -XEN_ENOSYS);
    EXPECT_EQ(domain.unknown, 0u);
}

TEST_F(HypercallsTest, BadGuestAddressesAreEfault) {
    for (std::uint64_t bad : {std::uint64_t(0), kImageBase - 1, kMemory - 1, ~std::uint64_t(0)}) {
        EXPECT_EQ(call(__HYPERVISOR_sched_op, SCHEDOP_shutdown, bad), -XEN_EFAULT);
        EXPECT_EQ(call(__HYPERVISOR_event_channel_op, EVTCHNOP_send, bad), -XEN_EFAULT);
        EXPECT_EQ(call(__HYPERVISOR_memory_op, XENMEM_current_reservation, bad), -XEN_EFAULT);
        EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_initialise, 1, bad), -XEN_EFAULT);
        EXPECT_EQ(call(__HYPERVISOR_console_io, CONSOLEIO_write, 8, bad), -XEN_EFAULT);
    }
}

// ---- Allocation-free hot path -----------------------------------------------------------

class Allocations {
public:
    Allocations() { t_allocations = 0, t_counting = true; }
    ~Allocations() { t_counting = false; }
    std::uint64_t count() const { return t_allocations; }
};

TEST(AllocationCounter, SeesAnAllocation) {
    Allocations allocations;
    std::vector<int> buffer(100);
    asm volatile("" : : "r"(buffer.data()) : "memory");  // keep the allocation
    EXPECT_EQ(allocations.count(), 1u);
}

TEST_F(HypercallsTest, ConsoleAndEventsAndUnknownNumbersAllocateNothing) {
    std::string text(DOMUS_CONSOLEIO_MAX, 'x');
    ASSERT_TRUE(domain.memory().range(kScratch, text.size()));
    std::memcpy(domain.memory().range(kScratch, text.size())->data(), text.data(), text.size());
    domain.console_out.reserve(2 * text.size());
    domain.console_in = "typed";
    evtchn_alloc_unbound unbound{DOMID_SELF, DOMID_SELF, 0};
    const std::uint64_t unbound_gpa = put(unbound, kScratch + 2 * kPageSize);
    sched_poll poll{};

    Allocations allocations;
    EXPECT_EQ(call(__HYPERVISOR_console_io, CONSOLEIO_write, text.size(), kScratch),
              std::int64_t(text.size()));
    EXPECT_EQ(call(__HYPERVISOR_console_io, CONSOLEIO_read, 64, kScratch), 5);
    EXPECT_EQ(call(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound, unbound_gpa), 0);
    evtchn_port_t port = get<evtchn_alloc_unbound>(unbound_gpa).port;
    poll.ports = put(port, kScratch + 3 * kPageSize);
    poll.nr_ports = 1;
    EXPECT_EQ(call(__HYPERVISOR_sched_op, SCHEDOP_poll, put(poll, kScratch + 4 * kPageSize)), 0);
    EXPECT_EQ(call(99), -XEN_ENOSYS);
    EXPECT_EQ(allocations.count(), 0u);
    EXPECT_EQ(domain.console_out, text);
}

// ---- console_io -------------------------------------------------------------------------

TEST_F(HypercallsTest, ConsoleWriteIsTruncatedToTheLimit) {
    EXPECT_EQ(call(__HYPERVISOR_console_io, CONSOLEIO_write, 1ull << 40, kScratch),
              DOMUS_CONSOLEIO_MAX);
    EXPECT_EQ(domain.console_out.size(), std::size_t(DOMUS_CONSOLEIO_MAX));
    EXPECT_EQ(call(__HYPERVISOR_console_io, CONSOLEIO_write, 0, kScratch), 0);
}

TEST_F(HypercallsTest, ConsoleReadCopiesWhatIsPending) {
    domain.console_in = "abc";
    EXPECT_EQ(call(__HYPERVISOR_console_io, CONSOLEIO_read, 2, kScratch), 2);
    EXPECT_EQ((get<std::array<char, 2>>()), (std::array<char, 2>{'a', 'b'}));
}

// ---- sched_op and timers ------------------------------------------------------------------

TEST_F(HypercallsTest, ShutdownReasonsReachTheDomain) {
    EXPECT_EQ(call(__HYPERVISOR_sched_op, SCHEDOP_shutdown, put(sched_shutdown{SHUTDOWN_crash})),
              0);
    EXPECT_EQ(domain.exit_kind, ExitKind::crash);
    EXPECT_EQ(call(__HYPERVISOR_sched_op, SCHEDOP_shutdown, put(sched_shutdown{SHUTDOWN_suspend})),
              -XEN_EOPNOTSUPP);
    EXPECT_EQ(call(__HYPERVISOR_sched_op, SCHEDOP_shutdown, put(sched_shutdown{99})), -XEN_EINVAL);
    domus_sched_exit exit{};
    exit.reason = SHUTDOWN_poweroff;
    exit.code = 42;
    EXPECT_EQ(call(__HYPERVISOR_sched_op, SCHEDOP_domus_exit, put(exit)), 0);
    EXPECT_EQ(domain.exit_kind, ExitKind::poweroff);
    EXPECT_EQ(domain.exit_code, 42u);
    EXPECT_EQ(domain.shutdowns, 2);
    EXPECT_EQ(
        call(__HYPERVISOR_sched_op, SCHEDOP_shutdown_code, put(sched_shutdown{SHUTDOWN_watchdog})),
        0);
    EXPECT_EQ(domain.crash_reason, std::uint32_t(SHUTDOWN_watchdog));
}

TEST_F(HypercallsTest, BlockUnmasksUpcallsAndWaitsForOne) {
    vcpu_info* info = domain.vcpu_info_of(0);
    info->evtchn_upcall_mask = 1;
    info->evtchn_upcall_pending = 1;
    EXPECT_EQ(call(__HYPERVISOR_sched_op, SCHEDOP_block), 0);
    EXPECT_EQ(info->evtchn_upcall_mask, 0);
    EXPECT_EQ(domain.vcpu(0)->blocks, 1);
    EXPECT_TRUE(domain.vcpu(0)->ready_when_blocked);
}

TEST_F(HypercallsTest, PollRefusesBadPortLists) {
    sched_poll poll{};
    poll.ports = put(evtchn_port_t(0), kScratch + kPageSize);
    poll.nr_ports = 1;
    EXPECT_EQ(call(__HYPERVISOR_sched_op, SCHEDOP_poll, put(poll)), -XEN_EINVAL);
    poll.nr_ports = SCHED_POLL_MAX_PORTS + 1;
    EXPECT_EQ(call(__HYPERVISOR_sched_op, SCHEDOP_poll, put(poll)), -XEN_EINVAL);
    poll.nr_ports = 2;
    poll.ports = kMemory - sizeof(evtchn_port_t);
    EXPECT_EQ(call(__HYPERVISOR_sched_op, SCHEDOP_poll, put(poll)), -XEN_EFAULT);
    EXPECT_EQ(domain.vcpu(0)->blocks, 0);
}

TEST_F(HypercallsTest, WildTimerDeadlinesBecomeNear) {
    EXPECT_EQ(call(__HYPERVISOR_set_timer_op, ~0ull), 0);
    std::uint64_t now = domain.clock().now_ns();
    EXPECT_GT(domain.vcpu(0)->timer, 0u);
    EXPECT_LE(domain.vcpu(0)->timer, now + 100'000'000);
    EXPECT_EQ(call(__HYPERVISOR_set_timer_op, 0), 0);
    EXPECT_EQ(domain.vcpu(0)->timer, 0u);
}

// ---- vcpu_op ----------------------------------------------------------------------------

TEST_F(HypercallsTest, VcpuOpRefusesVcpusThatDoNotExist) {
    for (std::uint64_t vcpu :
         {std::uint64_t(4), std::uint64_t(64), std::uint64_t(1) << 32, ~std::uint64_t(0)})
        EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_is_up, vcpu), -XEN_ENOENT);
}

TEST_F(HypercallsTest, VcpuOpTimersAreForTheCallerOnly) {
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_stop_singleshot_timer, 1), -XEN_EINVAL);
    domain.vcpu(0)->up = true;
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_down, 0), 0);
    EXPECT_FALSE(domain.vcpu(0)->up);
}

// Hot-unplug: as Xen, VCPUOP_down works on the caller and (asynchronously) on another
// vCPU; is_up follows it at once; VCPUOP_up brings the same vCPU back without a second
// VCPUOP_initialise, which is refused while the vCPU is up.
TEST_F(HypercallsTest, VcpusGoDownAndComeBackUp) {
    domus_vcpu_context context{};
    context.rip = kImageBase;
    context.rsp = kMemory;
    ASSERT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_initialise, 1, put(context)), 0);
    ASSERT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_up, 1), 0);
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_is_up, 1), 1);
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_initialise, 1, put(context)), -XEN_EEXIST);
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_down, 1), 0);
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_is_up, 1), 0);
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_down, 1), 0);  // already down: no change
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_up, 1), 0);
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_is_up, 1), 1);
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_down, 4), -XEN_ENOENT);
}

TEST_F(HypercallsTest, InitialiseChecksTheContext) {
    domus_vcpu_context context{};
    context.rip = kImageBase;
    context.rsp = kMemory;
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_initialise, 1, put(context)), 0);
    EXPECT_EQ(domain.vcpu(1)->initialised.rip, kImageBase);
    context.rip = kMemory;
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_initialise, 1, put(context)), -XEN_EINVAL);
    context.rip = kImageBase;
    context.fs_base = 1ull << 47;
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_initialise, 1, put(context)), -XEN_EINVAL);
}

TEST_F(HypercallsTest, RegisterVcpuInfoMovesItCopyingTheEventState) {
    vcpu_info* legacy = domain.vcpu_info_of(1);
    legacy->evtchn_upcall_mask = 1;
    legacy->evtchn_pending_sel = 0x5;
    const std::uint64_t place = kScratch + 128;
    ASSERT_EQ(register_vcpu_info(1, place), 0);
    EXPECT_EQ(domain.vcpu(1)->vcpu_info_gpa(), place);
    vcpu_info moved = get<vcpu_info>(place);
    EXPECT_EQ(moved.evtchn_upcall_mask, 1);
    EXPECT_EQ(moved.evtchn_pending_sel, 0x5u);
    EXPECT_NE(moved.time.version % 2, 1u);
    EXPECT_EQ(register_vcpu_info(1, place + 256), -XEN_EINVAL);  // once only, as in Xen
}

TEST_F(HypercallsTest, RegisterVcpuInfoRedeliversPendingEvents) {
    evtchn_port_t port = 0;
    ASSERT_EQ(domain.events().bind_ipi(2, port), 0);
    domain.shared().evtchn_pending[port / 64] |= 1ull << (port % 64);  // raised meanwhile
    ASSERT_EQ(register_vcpu_info(2, kScratch), 0);
    vcpu_info moved = get<vcpu_info>(kScratch);
    EXPECT_EQ(moved.evtchn_upcall_pending, 1);
    EXPECT_EQ(moved.evtchn_pending_sel, 1ull << (port / 64));
}

// The review: the caller changed a running vCPU's vcpu_info under it.
TEST_F(HypercallsTest, RegisterVcpuInfoRefusesAnotherRunningVcpu) {
    domain.vcpu(1)->up = true;
    EXPECT_EQ(register_vcpu_info(1, kScratch, 0), -XEN_EINVAL);
    EXPECT_FALSE(domain.vcpu(1)->vcpu_info_registered());
    EXPECT_EQ(register_vcpu_info(1, kScratch, 1), 0);  // the vCPU itself may
}

TEST_F(HypercallsTest, RegisterVcpuInfoAcceptsAnotherVcpuThatIsDown) {
    EXPECT_EQ(register_vcpu_info(3, kScratch, 0), 0);
    EXPECT_EQ(domain.vcpu(3)->vcpu_info_gpa(), kScratch);
}

// The review: vCPU 1's new vcpu_info at shared_info + 72 overlapped its legacy slot at
// +64 (a memcpy between overlapping ranges, which ASan reports).
TEST_F(HypercallsTest, RegisterVcpuInfoRefusesItsOwnLegacySlotsPage) {
    EXPECT_EQ(register_vcpu_info(1, layout.shared_info + 72), -XEN_EINVAL);
    EXPECT_EQ(domain.vcpu(1)->vcpu_info_gpa(), layout.shared_info + sizeof(vcpu_info));
}

TEST_F(HypercallsTest, RegisterVcpuInfoRefusesEverythingTheMonitorOwns) {
    const std::uint64_t owned[] = {
        layout.monitor_area,
        layout.tss,
        layout.tss + 2 * kPageSize,
        layout.start_info,
        layout.shared_info + 2048,
        layout.console_ring,
        layout.store_ring,
        layout.boot_stack_top - kPageSize,
        layout.page_tables,
        layout.page_tables + layout.page_table_frames * kPageSize - sizeof(vcpu_info),
        layout.monitor_area - 8,  // straddles into the monitor area
        kHypercallPage,
        kHypercallPage + kPageSize - sizeof(vcpu_info),
        kHypercallPage - 8,  // straddles into the hypercall page
    };
    for (std::uint64_t gpa : owned)
        EXPECT_EQ(register_vcpu_info(2, gpa), -XEN_EINVAL) << std::hex << gpa;
    EXPECT_FALSE(domain.vcpu(2)->vcpu_info_registered());
    EXPECT_EQ(register_vcpu_info(2, layout.monitor_area - sizeof(vcpu_info)), 0);
}

TEST_F(HypercallsTest, RegisterVcpuInfoRefusesAnotherVcpusLiveOne) {
    ASSERT_EQ(register_vcpu_info(1, kScratch), 0);
    EXPECT_EQ(register_vcpu_info(2, kScratch), -XEN_EINVAL);
    EXPECT_EQ(register_vcpu_info(2, kScratch + 56), -XEN_EINVAL);
    EXPECT_EQ(register_vcpu_info(2, kScratch - 56), -XEN_EINVAL);
    EXPECT_EQ(register_vcpu_info(2, kScratch + sizeof(vcpu_info)), 0);  // adjacent is fine
}

TEST_F(HypercallsTest, RegisterVcpuInfoRefusesBadPlacements) {
    EXPECT_EQ(register_vcpu_info(1, kScratch + 4), -XEN_EINVAL);  // unaligned
    EXPECT_EQ(register_vcpu_info(1, kImageBase - kPageSize), -XEN_EINVAL);
    vcpu_register_vcpu_info request{};
    request.mfn = kMemory / kPageSize;
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info, 1, put(request)), -XEN_EINVAL);
    request.mfn = kScratch / kPageSize;
    request.offset = kPageSize - sizeof(vcpu_info) + 8;
    EXPECT_EQ(call(__HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info, 1, put(request)), -XEN_EINVAL);
}

// ---- callback_op, set_segment_base --------------------------------------------------------

TEST_F(HypercallsTest, CallbackAndSegmentBasesReachTheCaller) {
    callback_register callback{};
    callback.type = CALLBACKTYPE_event;
    callback.address = kImageBase + 0x100;
    EXPECT_EQ(call(__HYPERVISOR_callback_op, CALLBACKOP_register, put(callback), 0, 2), 0);
    EXPECT_EQ(domain.vcpu(2)->upcall_entry, kImageBase + 0x100);
    EXPECT_EQ(call(__HYPERVISOR_set_segment_base, SEGBASE_FS, 0x1234), 0);
    EXPECT_EQ(domain.vcpu(0)->fs_base, 0x1234u);
    EXPECT_EQ(call(__HYPERVISOR_set_segment_base, SEGBASE_GS_USER, 1ull << 47), -XEN_EINVAL);
    EXPECT_EQ(call(__HYPERVISOR_set_segment_base, 7, 0), -XEN_EINVAL);
}

// ---- event_channel_op ----------------------------------------------------------------------

TEST_F(HypercallsTest, EventOperationsCopyTheirResultBack) {
    evtchn_alloc_unbound unbound{DOMID_SELF, 0, 0};
    ASSERT_EQ(call(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound, put(unbound)), 0);
    evtchn_port_t port = get<evtchn_alloc_unbound>().port;
    EXPECT_NE(port, 0u);
    evtchn_status status{};
    status.dom = DOMID_SELF;
    status.port = port;
    ASSERT_EQ(call(__HYPERVISOR_event_channel_op, EVTCHNOP_status, put(status)), 0);
    EXPECT_EQ(get<evtchn_status>().status, std::uint32_t(EVTCHNSTAT_unbound));
}

TEST_F(HypercallsTest, SendToABackendPortRingsItsDoorbell) {
    Fd doorbell(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    evtchn_port_t port = domain.events().bind_backend(doorbell.get());
    ASSERT_NE(port, 0u);
    ASSERT_EQ(call(__HYPERVISOR_event_channel_op, EVTCHNOP_send, put(evtchn_send{port})), 0);
    std::uint64_t rings = 0;
    ASSERT_EQ(::read(doorbell.get(), &rings, sizeof(rings)), ssize_t(sizeof(rings)));
    EXPECT_EQ(rings, 1u);
}

// ---- grant_table_op ------------------------------------------------------------------------

TEST_F(HypercallsTest, GrantQuerySizeAnswersEachElement) {
    std::array<gnttab_query_size, 2> query{};
    query[0].dom = DOMID_SELF;
    query[1].dom = 3;
    ASSERT_EQ(call(__HYPERVISOR_grant_table_op, GNTTABOP_query_size, put(query), 2), 0);
    auto answer = get<decltype(query)>();
    EXPECT_EQ(answer[0].status, GNTST_okay);
    EXPECT_EQ(answer[0].max_nr_frames, std::uint32_t(DOMUS_GNTTAB_MAX_FRAMES));
    EXPECT_EQ(answer[1].status, GNTST_bad_domain);
}

// As Xen's guest_handle_okay: the whole array is checked before any element is acted on.
TEST_F(HypercallsTest, GrantArrayReachingPastMemoryIsRefusedBeforeAnyElement) {
    gnttab_query_size first{};
    first.dom = DOMID_SELF;
    first.status = 99;
    const std::uint64_t array = put(first, kMemory - sizeof(first));  // element 1: past the end
    EXPECT_EQ(call(__HYPERVISOR_grant_table_op, GNTTABOP_query_size, array, 2), -XEN_EFAULT);
    EXPECT_EQ(get<gnttab_query_size>(array).status, 99) << "element 0 was acted on";
}

TEST_F(HypercallsTest, GrantArrayAddressesThatWrapAreEfault) {
    const std::uint64_t wraps = std::numeric_limits<std::uint64_t>::max() - 8;
    EXPECT_EQ(call(__HYPERVISOR_grant_table_op, GNTTABOP_query_size, wraps, 2), -XEN_EFAULT);
    EXPECT_EQ(call(__HYPERVISOR_grant_table_op, GNTTABOP_copy, wraps, DOMUS_GNTTAB_MAX_BATCH),
              -XEN_EFAULT);
    EXPECT_EQ(
        call(__HYPERVISOR_grant_table_op, GNTTABOP_copy, kScratch, DOMUS_GNTTAB_MAX_BATCH + 1),
        -XEN_EINVAL);
}

// ---- memory_op, xen_version ------------------------------------------------------------------

TEST_F(HypercallsTest, MemoryAndVersionAnswers) {
    EXPECT_EQ(call(__HYPERVISOR_memory_op, XENMEM_current_reservation, put(domid_t(DOMID_SELF))),
              std::int64_t(kMemory / kPageSize));
    EXPECT_EQ(call(__HYPERVISOR_memory_op, XENMEM_maximum_reservation, put(domid_t(3))),
              -XEN_EPERM);
    EXPECT_EQ(call(__HYPERVISOR_xen_version, XENVER_version), DOMUS_ABI_VERSION);
    EXPECT_EQ(call(__HYPERVISOR_xen_version, XENVER_pagesize), XEN_PAGE_SIZE);
    ASSERT_EQ(call(__HYPERVISOR_xen_version, XENVER_extraversion, kScratch), 0);
    auto text = get<std::array<char, 16>>();
    EXPECT_STREQ(text.data(), "-domus");
}

}  // namespace
}  // namespace domus::monitor
