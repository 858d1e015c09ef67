// Tests for monitor/event_channels: Xen's 2-level event delivery into a shared_info and
// vcpu_infos owned by the test, port life cycles and errors, and a randomized run of
// hostile operations checked against a model of which ports are open.
#include "monitor/event_channels.hpp"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "base/fd.hpp"

namespace domus::monitor {
namespace {

constexpr domid_t kSelf = 5;
constexpr std::uint32_t kVcpus = 4;
constexpr std::uint32_t kNrPorts = EventChannels::kNrPorts;
constexpr std::uint32_t kBadPorts[] = {0, kNrPorts, kNrPorts + 1, 0x7fffffff, 0xffffffff};

// The domain side: vcpu_infos, kicks and backend notifications, all recorded.
class FakeSink : public EventSink {
public:
    std::uint32_t nr_vcpus() const noexcept override { return kVcpus; }
    vcpu_info* vcpu_info_of(std::uint32_t vcpu) noexcept override {
        return vcpu < kVcpus && registered[vcpu] ? &infos[vcpu] : nullptr;
    }
    void kick(std::uint32_t vcpu) noexcept override {
        if (vcpu < kVcpus) {
            ++kicks[vcpu];
        } else {
            ++stray_kicks;
        }
    }
    // As the domain does: rings the doorbell with an 8-byte write. `before_write` lets a
    // test act between the port lookup and the write.
    void notify_backend(int fd) noexcept override {
        if (before_write) before_write();
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(fd, &one, sizeof(one));
        notified.push_back(fd);
    }

    std::vector<vcpu_info> infos = std::vector<vcpu_info>(kVcpus);
    std::vector<bool> registered = std::vector<bool>(kVcpus, true);
    std::vector<int> kicks = std::vector<int>(kVcpus);
    int stray_kicks = 0;
    std::vector<int> notified;
    std::function<void()> before_write;
};

Fd eventfd() {
    return Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
}

// The doorbell count an eventfd received (and resets it).
std::uint64_t rings(const Fd& fd) {
    std::uint64_t count = 0;
    return ::read(fd.get(), &count, sizeof(count)) == sizeof(count) ? count : 0;
}

class EventChannelsTest : public ::testing::Test {
protected:
    static std::uint64_t bit(evtchn_port_t port) { return 1ull << (port % 64); }

    bool pending(evtchn_port_t port) const { return shared.evtchn_pending[port / 64] & bit(port); }
    bool masked(evtchn_port_t port) const { return shared.evtchn_mask[port / 64] & bit(port); }
    void mask(evtchn_port_t port) { shared.evtchn_mask[port / 64] |= bit(port); }
    void clear_mask(evtchn_port_t port) { shared.evtchn_mask[port / 64] &= ~bit(port); }
    void clear_pending(evtchn_port_t port) { shared.evtchn_pending[port / 64] &= ~bit(port); }
    bool selector(std::uint32_t vcpu, evtchn_port_t port) const {
        return sink.infos[vcpu].evtchn_pending_sel & (1ull << (port / 64));
    }
    bool upcall(std::uint32_t vcpu) const { return sink.infos[vcpu].evtchn_upcall_pending; }
    int total_kicks() const {
        return sink.kicks[0] + sink.kicks[1] + sink.kicks[2] + sink.kicks[3];
    }

    // What a guest's upcall handler does: consume every pending event.
    void handle_all() {
        for (auto& info : sink.infos)
            info.evtchn_upcall_pending = 0, info.evtchn_pending_sel = 0;
        std::fill(std::begin(shared.evtchn_pending), std::end(shared.evtchn_pending), 0);
    }

    evtchn_port_t ipi(std::uint32_t vcpu = 0) {
        evtchn_port_t port = 0;
        EXPECT_EQ(events.bind_ipi(vcpu, port), 0);
        return port;
    }
    evtchn_port_t virq(std::uint32_t virq, std::uint32_t vcpu = 0) {
        evtchn_port_t port = 0;
        EXPECT_EQ(events.bind_virq(virq, vcpu, port), 0);
        return port;
    }
    evtchn_port_t unbound(domid_t remote = DOMID_SELF) {
        evtchn_port_t port = 0;
        EXPECT_EQ(events.alloc_unbound(DOMID_SELF, remote, port), 0);
        return port;
    }
    evtchn_port_t interdomain(evtchn_port_t remote_port) {
        evtchn_port_t port = 0;
        EXPECT_EQ(events.bind_interdomain(DOMID_SELF, remote_port, port), 0);
        return port;
    }
    evtchn_status status(evtchn_port_t port) {
        evtchn_status s{};
        s.dom = DOMID_SELF;
        s.port = port;
        EXPECT_EQ(events.status(s), 0);
        return s;
    }

    shared_info shared{};
    Fd doorbell = eventfd();
    FakeSink sink;
    EventChannels events{shared, sink, kSelf};
};

// ---- Binding ------------------------------------------------------------------------------

TEST_F(EventChannelsTest, BindVirqHandsOutDistinctPorts) {
    evtchn_port_t timer0 = virq(VIRQ_TIMER, 0);
    evtchn_port_t timer1 = virq(VIRQ_TIMER, 1);
    EXPECT_NE(timer0, 0u);
    EXPECT_NE(timer1, 0u);
    EXPECT_NE(timer0, timer1);
    evtchn_status s = status(timer1);
    EXPECT_EQ(s.status, EVTCHNSTAT_virq);
    EXPECT_EQ(s.u.virq, std::uint32_t(VIRQ_TIMER));
    EXPECT_EQ(s.vcpu, 1u);
}

TEST_F(EventChannelsTest, BindVirqTwiceOnOneVcpuIsEexist) {
    evtchn_port_t port = virq(VIRQ_CONSOLE, 0);
    evtchn_port_t again = 0;
    EXPECT_EQ(events.bind_virq(VIRQ_CONSOLE, 0, again), -XEN_EEXIST);
    ASSERT_EQ(events.close(port), 0);
    EXPECT_EQ(events.bind_virq(VIRQ_CONSOLE, 0, again), 0);
}

TEST_F(EventChannelsTest, BindVirqOutOfRangeIsEinval) {
    evtchn_port_t port = 0;
    for (std::uint32_t v : {std::uint32_t(NR_VIRQS), 64u, 0xffffffffu}) {
        EXPECT_EQ(events.bind_virq(v, 0, port), -XEN_EINVAL) << v;
    }
}

TEST_F(EventChannelsTest, BadVcpuIsEnoent) {
    evtchn_port_t port = 0;
    evtchn_port_t open = unbound();
    for (std::uint32_t vcpu : {kVcpus, 63u, 64u, 0x80000000u, 0xffffffffu}) {
        EXPECT_EQ(events.bind_virq(VIRQ_TIMER, vcpu, port), -XEN_ENOENT) << vcpu;
        EXPECT_EQ(events.bind_ipi(vcpu, port), -XEN_ENOENT) << vcpu;
        EXPECT_EQ(events.bind_vcpu(open, vcpu), -XEN_ENOENT) << vcpu;
    }
}

TEST_F(EventChannelsTest, AllocUnboundRecordsTheRemoteDomain) {
    evtchn_status s = status(unbound(DOMID_SELF));
    EXPECT_EQ(s.status, EVTCHNSTAT_unbound);
    EXPECT_EQ(s.u.unbound.dom, kSelf);
    s = status(unbound(0));
    EXPECT_EQ(s.status, EVTCHNSTAT_unbound);
    EXPECT_EQ(s.u.unbound.dom, 0);
    evtchn_port_t port = 0;
    EXPECT_EQ(events.alloc_unbound(kSelf, kSelf, port), 0);  // own id == DOMID_SELF
}

TEST_F(EventChannelsTest, AllocUnboundRejectsOtherAndReservedDomains) {
    evtchn_port_t port = 0;
    EXPECT_EQ(events.alloc_unbound(kSelf + 1, DOMID_SELF, port), -XEN_EPERM);
    EXPECT_EQ(events.alloc_unbound(0, DOMID_SELF, port), -XEN_EPERM);
    EXPECT_EQ(events.alloc_unbound(DOMID_SELF, DOMID_INVALID, port), -XEN_EINVAL);
    EXPECT_EQ(events.alloc_unbound(DOMID_SELF, 0xffff, port), -XEN_EINVAL);
}

// ---- Delivery -----------------------------------------------------------------------------

TEST_F(EventChannelsTest, SendOnIpiSetsPendingSelectorAndUpcall) {
    evtchn_port_t port = ipi(2);
    ASSERT_EQ(events.send(port), 0);
    EXPECT_TRUE(pending(port));
    EXPECT_TRUE(selector(2, port));
    EXPECT_TRUE(upcall(2));
    EXPECT_EQ(sink.kicks, (std::vector<int>{0, 0, 1, 0}));
    EXPECT_FALSE(upcall(0));
}

TEST_F(EventChannelsTest, KicksOnlyOnTheUpcallEdge) {
    evtchn_port_t port = ipi(1);
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(events.send(port), 0);
    EXPECT_EQ(sink.kicks[1], 1);

    clear_pending(port);  // handled the port, upcall still flagged: no new kick
    ASSERT_EQ(events.send(port), 0);
    EXPECT_TRUE(pending(port));
    EXPECT_EQ(sink.kicks[1], 1);

    handle_all();
    ASSERT_EQ(events.send(port), 0);
    EXPECT_EQ(sink.kicks[1], 2);
}

TEST_F(EventChannelsTest, PortsInOneWordShareTheSelectorBit) {
    evtchn_port_t a = ipi(0), b = ipi(0);
    ASSERT_EQ(a / 64, b / 64);
    ASSERT_EQ(events.send(a), 0);
    ASSERT_EQ(events.send(b), 0);
    EXPECT_TRUE(pending(a));
    EXPECT_TRUE(pending(b));
    EXPECT_EQ(sink.infos[0].evtchn_pending_sel, 1ull << (a / 64));
    EXPECT_EQ(sink.kicks[0], 1);
}

TEST_F(EventChannelsTest, PortsInAnotherWordSetTheirOwnSelectorBit) {
    std::vector<evtchn_port_t> ports;
    for (int i = 0; i < 70; ++i)
        ports.push_back(ipi(0));
    evtchn_port_t low = ports.front(), high = ports.back();
    ASSERT_EQ(low / 64, 0u);
    ASSERT_EQ(high / 64, 1u);
    ASSERT_EQ(events.send(low), 0);
    ASSERT_EQ(events.send(high), 0);
    EXPECT_EQ(sink.infos[0].evtchn_pending_sel, 0b11u);
    EXPECT_EQ(sink.kicks[0], 1);
}

TEST_F(EventChannelsTest, MaskedPortIsPendingButNotDelivered) {
    evtchn_port_t port = ipi(0);
    mask(port);
    ASSERT_EQ(events.send(port), 0);
    EXPECT_TRUE(pending(port));
    EXPECT_FALSE(selector(0, port));
    EXPECT_FALSE(upcall(0));
    int kicks = sink.kicks[0];  // a masked port may wake a poller, but raises no upcall

    ASSERT_EQ(events.unmask(port), 0);
    EXPECT_FALSE(masked(port));
    EXPECT_TRUE(selector(0, port));
    EXPECT_TRUE(upcall(0));
    EXPECT_EQ(sink.kicks[0], kicks + 1);
}

TEST_F(EventChannelsTest, UnmaskDeliversEvenIfTheGuestClearedTheMaskFirst) {
    evtchn_port_t port = ipi(0);
    mask(port);
    ASSERT_EQ(events.send(port), 0);
    clear_mask(port);
    ASSERT_EQ(events.unmask(port), 0);
    EXPECT_TRUE(upcall(0));
}

TEST_F(EventChannelsTest, UnmaskOfAQuietPortDeliversNothing) {
    evtchn_port_t port = ipi(0);
    mask(port);
    ASSERT_EQ(events.unmask(port), 0);
    EXPECT_FALSE(masked(port));
    EXPECT_FALSE(upcall(0));
    EXPECT_EQ(total_kicks(), 0);
}

TEST_F(EventChannelsTest, SendOnUnboundPortIsDropped) {
    evtchn_port_t port = unbound();
    EXPECT_EQ(events.send(port), 0);
    EXPECT_FALSE(pending(port));
    EXPECT_EQ(total_kicks(), 0);
    EXPECT_TRUE(sink.notified.empty());
}

TEST_F(EventChannelsTest, BadPortsAreEinval) {
    for (evtchn_port_t port : kBadPorts) {
        EXPECT_EQ(events.send(port), -XEN_EINVAL) << port;
        EXPECT_EQ(events.close(port), -XEN_EINVAL) << port;
        EXPECT_EQ(events.unmask(port), -XEN_EINVAL) << port;
        EXPECT_EQ(events.bind_vcpu(port, 0), -XEN_EINVAL) << port;
    }
    evtchn_port_t never_opened = 17;
    EXPECT_EQ(events.send(never_opened), -XEN_EINVAL);
    EXPECT_EQ(events.close(never_opened), -XEN_EINVAL);
    EXPECT_EQ(events.bind_vcpu(never_opened, 0), -XEN_EINVAL);
    EXPECT_EQ(events.send(virq(VIRQ_TIMER)), -XEN_EINVAL);  // only Xen raises a VIRQ
    EXPECT_EQ(total_kicks(), 0);
}

TEST_F(EventChannelsTest, UnregisteredVcpuInfoGetsItsEventsOnResync) {
    sink.registered[3] = false;
    evtchn_port_t port = ipi(3);
    ASSERT_EQ(events.send(port), 0);
    EXPECT_TRUE(pending(port));
    EXPECT_EQ(sink.kicks[3], 0);

    sink.registered[3] = true;
    events.resync_vcpu(3);
    EXPECT_TRUE(selector(3, port));
    EXPECT_TRUE(upcall(3));
    EXPECT_EQ(sink.kicks[3], 1);
}

// ---- Interdomain loopback -------------------------------------------------------------------

TEST_F(EventChannelsTest, BindInterdomainConnectsBothEndsAndStartsPending) {
    evtchn_port_t a = unbound();
    evtchn_port_t b = interdomain(a);
    ASSERT_NE(b, 0u);
    EXPECT_NE(a, b);
    EXPECT_TRUE(pending(b));
    EXPECT_FALSE(pending(a));
    EXPECT_TRUE(upcall(0));
    EXPECT_EQ(sink.kicks[0], 1);

    evtchn_status sa = status(a), sb = status(b);
    EXPECT_EQ(sa.status, EVTCHNSTAT_interdomain);
    EXPECT_EQ(sa.u.interdomain.dom, kSelf);
    EXPECT_EQ(sa.u.interdomain.port, b);
    EXPECT_EQ(sb.status, EVTCHNSTAT_interdomain);
    EXPECT_EQ(sb.u.interdomain.port, a);
}

TEST_F(EventChannelsTest, SendCrossesTheLoopback) {
    evtchn_port_t a = unbound();
    evtchn_port_t b = interdomain(a);
    handle_all();
    ASSERT_EQ(events.send(a), 0);
    EXPECT_TRUE(pending(b));
    EXPECT_FALSE(pending(a));
    handle_all();
    ASSERT_EQ(events.send(b), 0);
    EXPECT_TRUE(pending(a));
    EXPECT_FALSE(pending(b));
}

TEST_F(EventChannelsTest, SendFollowsThePeersVcpu) {
    evtchn_port_t a = unbound();
    evtchn_port_t b = interdomain(a);
    handle_all();
    ASSERT_EQ(events.bind_vcpu(b, 2), 0);
    EXPECT_EQ(status(b).vcpu, 2u);
    ASSERT_EQ(events.send(a), 0);
    EXPECT_TRUE(upcall(2));
    EXPECT_FALSE(upcall(0));
    EXPECT_EQ(sink.kicks[2], 1);
}

TEST_F(EventChannelsTest, BindInterdomainRejectsBadPeers) {
    evtchn_port_t port = 0;
    evtchn_port_t open = unbound();
    EXPECT_EQ(events.bind_interdomain(kSelf + 1, open, port), -XEN_ESRCH);
    EXPECT_EQ(events.bind_interdomain(0, open, port), -XEN_ESRCH);
    for (evtchn_port_t bad : kBadPorts) {
        EXPECT_EQ(events.bind_interdomain(DOMID_SELF, bad, port), -XEN_EINVAL) << bad;
    }
    EXPECT_EQ(events.bind_interdomain(DOMID_SELF, 100, port), -XEN_EINVAL);  // closed
    EXPECT_EQ(events.bind_interdomain(DOMID_SELF, ipi(), port), -XEN_EINVAL);
    EXPECT_EQ(events.bind_interdomain(DOMID_SELF, unbound(0), port), -XEN_EINVAL);  // for dom0
    interdomain(open);
    EXPECT_EQ(events.bind_interdomain(DOMID_SELF, open, port), -XEN_EINVAL);  // taken
}

TEST_F(EventChannelsTest, CloseReturnsThePeerToUnbound) {
    evtchn_port_t a = unbound();
    evtchn_port_t b = interdomain(a);
    ASSERT_EQ(events.close(b), 0);
    EXPECT_EQ(status(b).status, EVTCHNSTAT_closed);
    evtchn_status sa = status(a);
    EXPECT_EQ(sa.status, EVTCHNSTAT_unbound);
    EXPECT_EQ(sa.u.unbound.dom, kSelf);
    EXPECT_EQ(events.send(a), 0);  // dropped now
    evtchn_port_t c = interdomain(a);
    EXPECT_EQ(status(a).u.interdomain.port, c);
}

TEST_F(EventChannelsTest, CloseTwiceIsEinval) {
    evtchn_port_t port = ipi();
    EXPECT_EQ(events.close(port), 0);
    EXPECT_EQ(events.close(port), -XEN_EINVAL);
}

TEST_F(EventChannelsTest, AReusedPortStartsClean) {
    evtchn_port_t port = ipi();
    ASSERT_EQ(events.send(port), 0);
    ASSERT_EQ(events.close(port), 0);
    evtchn_port_t again = ipi();
    EXPECT_EQ(again, port);  // the lowest free port is reused
    EXPECT_FALSE(pending(again));
}

// ---- Monitor backends -----------------------------------------------------------------------

TEST_F(EventChannelsTest, BackendPortNotifiesItsEventfd) {
    Fd other = eventfd();
    evtchn_port_t p = events.bind_backend(doorbell.get(), 1);
    evtchn_port_t q = events.bind_backend(other.get());
    ASSERT_NE(p, 0u);
    ASSERT_NE(q, 0u);
    ASSERT_EQ(events.send(p), 0);
    ASSERT_EQ(events.send(q), 0);
    ASSERT_EQ(events.send(p), 0);
    EXPECT_EQ(sink.notified.size(), 3u);
    EXPECT_EQ(rings(doorbell), 2u);
    EXPECT_EQ(rings(other), 1u);
    EXPECT_FALSE(pending(p));
    EXPECT_EQ(total_kicks(), 0);
}

TEST_F(EventChannelsTest, BackendPortOutlivesTheBackendsOwnFd) {
    Fd copy(::dup(doorbell.get()));
    evtchn_port_t port = events.bind_backend(doorbell.get());
    doorbell.reset();  // the backend may close its fd: the port holds its own
    ASSERT_EQ(events.send(port), 0);
    EXPECT_EQ(rings(copy), 1u);
}

TEST_F(EventChannelsTest, BackendBindRefusesABadFd) {
    evtchn_port_t port = 0;
    EXPECT_EQ(events.bind_backend(-1), 0u);
    ASSERT_EQ(events.alloc_unbound(DOMID_SELF, 0, port), 0);
    EXPECT_EQ(events.connect_backend(port, 0, -1), -XEN_ENOMEM);
    EXPECT_EQ(status(port).status, EVTCHNSTAT_unbound);
}

// The review's race: a guest sends on a backend port, the device detaches between the
// port lookup and the doorbell write, and the fd number is reused by a newly opened
// file (an image). The 8-byte doorbell must not land in that file.
TEST_F(EventChannelsTest, SendRacingADetachNeverWritesIntoAReusedFdNumber) {
    evtchn_port_t port = unbound(0);
    ASSERT_EQ(events.connect_backend(port, 0, doorbell.get()), 0);
    const int number = doorbell.get();
    Fd image(::memfd_create("reused-fd-number", MFD_CLOEXEC));
    ASSERT_TRUE(image);
    sink.before_write = [&] {
        events.disconnect_backend(port);                 // the device detaches...
        doorbell.reset();                                // ...closes its eventfd...
        ASSERT_EQ(::dup2(image.get(), number), number);  // ...and the number is reused
    };
    ASSERT_EQ(events.send(port), 0);
    Fd reused(number);
    struct stat st {};
    ASSERT_EQ(::fstat(image.get(), &st), 0);
    EXPECT_EQ(st.st_size, 0) << "the doorbell was written into the reused fd";
    EXPECT_EQ(status(port).status, EVTCHNSTAT_unbound);
}

TEST_F(EventChannelsTest, BackendRaiseDeliversToItsVcpu) {
    evtchn_port_t port = events.bind_backend(doorbell.get(), 1);
    events.raise(port);
    EXPECT_TRUE(pending(port));
    EXPECT_TRUE(upcall(1));
    EXPECT_EQ(sink.kicks[1], 1);
}

TEST_F(EventChannelsTest, RaiseIgnoresBadPorts) {
    for (evtchn_port_t port : kBadPorts)
        events.raise(port);
    EXPECT_EQ(shared.evtchn_pending[0], 0u);
    EXPECT_EQ(total_kicks(), 0);
}

TEST_F(EventChannelsTest, GuestCannotCloseABackendPort) {
    evtchn_port_t port = events.bind_backend(doorbell.get());
    EXPECT_EQ(events.close(port), -XEN_EPERM);
    evtchn_status s = status(port);
    EXPECT_EQ(s.status, EVTCHNSTAT_interdomain);
    EXPECT_EQ(s.u.interdomain.dom, 0);
}

// ---- Exhaustion -----------------------------------------------------------------------------

TEST_F(EventChannelsTest, AllPortsCanBeUsedThenEnospc) {
    evtchn_port_t open = unbound();
    EXPECT_EQ(open, 1u);
    for (evtchn_port_t expected = 2; expected < kNrPorts; ++expected) {
        ASSERT_EQ(ipi(), expected);
    }
    evtchn_port_t port = 0;
    EXPECT_EQ(events.bind_ipi(0, port), -XEN_ENOSPC);
    EXPECT_EQ(events.bind_virq(VIRQ_TIMER, 0, port), -XEN_ENOSPC);
    EXPECT_EQ(events.alloc_unbound(DOMID_SELF, DOMID_SELF, port), -XEN_ENOSPC);
    EXPECT_EQ(events.bind_interdomain(DOMID_SELF, open, port), -XEN_ENOSPC);
    EXPECT_EQ(status(open).status, EVTCHNSTAT_unbound);  // the failed bind changed nothing
    EXPECT_EQ(events.bind_backend(doorbell.get()), 0u);

    ASSERT_EQ(events.close(500), 0);
    EXPECT_EQ(ipi(), 500u);
}

// ---- status, any_pending, resync, raise_virq, bind_vcpu -------------------------------------

TEST_F(EventChannelsTest, StatusReportsEachState) {
    EXPECT_EQ(status(0).status, EVTCHNSTAT_closed);
    EXPECT_EQ(status(kNrPorts - 1).status, EVTCHNSTAT_closed);
    EXPECT_EQ(status(unbound()).status, EVTCHNSTAT_unbound);
    EXPECT_EQ(status(interdomain(unbound())).status, EVTCHNSTAT_interdomain);
    EXPECT_EQ(status(virq(VIRQ_DEBUG, 3)).status, EVTCHNSTAT_virq);
    evtchn_status s = status(ipi(2));
    EXPECT_EQ(s.status, EVTCHNSTAT_ipi);
    EXPECT_EQ(s.vcpu, 2u);
    EXPECT_EQ(status(events.bind_backend(doorbell.get())).status, EVTCHNSTAT_interdomain);
}

TEST_F(EventChannelsTest, StatusRejectsBadArguments) {
    evtchn_status s{};
    s.dom = DOMID_SELF;
    for (evtchn_port_t port : {kNrPorts, 0xffffffffu}) {
        s.port = port;
        EXPECT_EQ(events.status(s), -XEN_EINVAL) << port;
    }
    s.port = 1;
    s.dom = kSelf + 1;
    EXPECT_EQ(events.status(s), -XEN_ESRCH);
    s.dom = kSelf;
    EXPECT_EQ(events.status(s), 0);
}

TEST_F(EventChannelsTest, AnyPendingSkipsBogusPorts) {
    EXPECT_FALSE(events.any_pending(nullptr, 0));
    shared.evtchn_pending[0] = 1;  // port 0's bit: never a real event
    const evtchn_port_t bogus[] = {0, kNrPorts, 0xffffffff};
    EXPECT_FALSE(events.any_pending(bogus, 3));

    evtchn_port_t port = ipi();
    mask(port);  // a poller waits for masked ports too
    const evtchn_port_t mixed[] = {0, 0xffffffff, port};
    EXPECT_FALSE(events.any_pending(mixed, 3));
    ASSERT_EQ(events.send(port), 0);
    EXPECT_TRUE(events.any_pending(mixed, 3));
    EXPECT_FALSE(events.any_pending(mixed, 2));  // only `count` entries are read
}

TEST_F(EventChannelsTest, ResyncRedeliversPendingUnmaskedPortsOfThatVcpu) {
    evtchn_port_t mine = ipi(1), masked_port = ipi(1), other = ipi(2);
    mask(masked_port);
    for (evtchn_port_t port : {mine, masked_port, other})
        ASSERT_EQ(events.send(port), 0);
    sink.infos[1] = vcpu_info{};  // the guest moved its vcpu_info: fresh, empty
    sink.infos[2] = vcpu_info{};
    sink.kicks = {0, 0, 0, 0};

    events.resync_vcpu(1);
    EXPECT_EQ(sink.infos[1].evtchn_pending_sel, 1ull << (mine / 64));
    EXPECT_TRUE(upcall(1));
    EXPECT_EQ(sink.kicks, (std::vector<int>{0, 1, 0, 0}));
    EXPECT_FALSE(upcall(2));
}

TEST_F(EventChannelsTest, ResyncWithNothingDeliverableDoesNothing) {
    evtchn_port_t port = ipi(1);
    mask(port);
    ASSERT_EQ(events.send(port), 0);
    sink.kicks = {0, 0, 0, 0};
    events.resync_vcpu(1);
    EXPECT_FALSE(upcall(1));
    for (std::uint32_t vcpu : {kVcpus, 64u, 0xffffffffu})
        events.resync_vcpu(vcpu);
    EXPECT_EQ(total_kicks(), 0);
    EXPECT_EQ(sink.stray_kicks, 0);
}

TEST_F(EventChannelsTest, RaiseVirqDeliversTheBoundPort) {
    EXPECT_FALSE(events.raise_virq(VIRQ_TIMER, 1));
    evtchn_port_t port = virq(VIRQ_TIMER, 1);
    EXPECT_TRUE(events.raise_virq(VIRQ_TIMER, 1));
    EXPECT_TRUE(pending(port));
    EXPECT_TRUE(upcall(1));
    EXPECT_EQ(sink.kicks[1], 1);
    EXPECT_FALSE(events.raise_virq(VIRQ_TIMER, 0));
    EXPECT_FALSE(events.raise_virq(NR_VIRQS, 1));
    EXPECT_FALSE(events.raise_virq(0xffffffff, 1));
    EXPECT_FALSE(events.raise_virq(VIRQ_TIMER, 64));
    EXPECT_FALSE(events.raise_virq(VIRQ_TIMER, 0xffffffff));
    ASSERT_EQ(events.close(port), 0);
    EXPECT_FALSE(events.raise_virq(VIRQ_TIMER, 1));
}

TEST_F(EventChannelsTest, BindVcpuMovesGlobalVirqsOnly) {
    EXPECT_EQ(events.bind_vcpu(ipi(0), 1), -XEN_EINVAL);  // an IPI names its vCPU
    EXPECT_EQ(events.bind_vcpu(virq(VIRQ_TIMER, 0), 1), -XEN_EINVAL);
    EXPECT_EQ(events.bind_vcpu(virq(VIRQ_DEBUG, 0), 1), -XEN_EINVAL);

    evtchn_port_t console = virq(VIRQ_CONSOLE, 0);
    ASSERT_EQ(events.bind_vcpu(console, 2), 0);
    EXPECT_EQ(status(console).vcpu, 2u);
    EXPECT_FALSE(events.raise_virq(VIRQ_CONSOLE, 0));
    EXPECT_TRUE(events.raise_virq(VIRQ_CONSOLE, 2));
    EXPECT_TRUE(upcall(2));
    evtchn_port_t port = 0;
    EXPECT_EQ(events.bind_virq(VIRQ_CONSOLE, 0, port), 0);  // vCPU 0's slot is free again
}

// BUG (src/monitor/event_channels.cpp:99-100, bind_vcpu): moving a global VIRQ port to a
// vCPU that already has a port for that VIRQ overwrites virq_ports_[vcpu][virq] without a
// check. The other port is orphaned (status() still says "virq", raise_virq never reaches
// it), and closing it (close(), line 115) zeroes the slot that now belongs to the moved
// port, so that VIRQ is silently never delivered again. Fix: in bind_vcpu return
// -XEN_EEXIST when virq_ports_[vcpu][p.virq] holds another port, and in close() clear
// the slot only if it still holds this port (compare_exchange_strong(port, 0)).
TEST_F(EventChannelsTest, BindVcpuKeepsVirqBindingsConsistent) {
    evtchn_port_t moved = virq(VIRQ_CONSOLE, 0);
    evtchn_port_t other = virq(VIRQ_CONSOLE, 1);
    int rc = events.bind_vcpu(moved, 1);
    EXPECT_TRUE(rc == 0 || rc == -XEN_EEXIST) << rc;
    // Whichever way it went, every port that status() reports as bound to the VIRQ
    // must be the one raise_virq() delivers on its vCPU, also after the other closes.
    auto expect_delivered = [&](evtchn_port_t port) {
        evtchn_status s = status(port);
        ASSERT_EQ(s.status, EVTCHNSTAT_virq);
        handle_all();
        EXPECT_TRUE(events.raise_virq(VIRQ_CONSOLE, s.vcpu));
        EXPECT_TRUE(pending(port)) << "port " << port << " on vCPU " << s.vcpu;
    };
    expect_delivered(moved);
    expect_delivered(other);
    ASSERT_EQ(events.close(other), 0);
    expect_delivered(moved);
}

// ---- Randomized hostile operations ----------------------------------------------------------

class Hostile {
public:
    explicit Hostile(std::uint64_t seed) : rng_(seed) {}

    std::uint64_t below(std::uint64_t n) { return rng_() % n; }

    // Mostly interesting edge values, some small numbers, some arbitrary 32-bit ones.
    std::uint32_t u32() {
        static constexpr std::uint32_t kEdges[] = {
            0,     1,          2,          3,          23,         24,
            31,    32,         63,         64,         1023,       1024,
            1025,  4095,       4096,       0x7ff0,     0x7ff4,     0xffff,
            10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, std::uint32_t(-XEN_EINVAL)};
        switch (below(3)) {
            case 0:
                return kEdges[below(std::size(kEdges))];
            case 1:
                return std::uint32_t(below(1100));
            default:
                return std::uint32_t(rng_());
        }
    }

    domid_t dom() {
        if (below(2)) return below(2) ? DOMID_SELF : kSelf;
        return domid_t(u32());
    }

    // A port that is open (as the model knows it) half of the time.
    evtchn_port_t port(const std::set<evtchn_port_t>& open) {
        if (!open.empty() && below(2)) {
            auto it = open.begin();
            std::advance(it, below(open.size()));
            return *it;
        }
        return u32();
    }

private:
    std::mt19937_64 rng_;
};

bool documented(int rc) {
    static const std::set<int> kCodes{0,           -XEN_EINVAL, -XEN_ENOENT, -XEN_ENOSPC,
                                      -XEN_EEXIST, -XEN_EPERM,  -XEN_ESRCH};
    return kCodes.count(rc) != 0;
}

TEST_F(EventChannelsTest, SurvivesRandomHostileOperations) {
    Hostile hostile(0xE7C4A11);
    std::set<evtchn_port_t> open;     // ports the guest or monitor opened and not closed
    std::set<evtchn_port_t> backend;  // of which: the monitor's
    auto opened = [&](int rc, evtchn_port_t port) {
        if (rc != 0) return;
        EXPECT_GT(port, 0u);
        EXPECT_LT(port, kNrPorts);
        EXPECT_EQ(open.count(port), 0u) << "port " << port << " handed out twice";
        open.insert(port);
    };

    for (int step = 0; step < 20000; ++step) {
        evtchn_port_t port = 0;
        int rc = 0;
        switch (hostile.below(16)) {
            case 0:
                rc = events.alloc_unbound(hostile.dom(), hostile.dom(), port);
                opened(rc, port);
                break;
            case 1:
                rc = events.bind_interdomain(hostile.dom(), hostile.port(open), port);
                opened(rc, port);
                break;
            case 2:
                rc = events.bind_virq(hostile.u32() % (hostile.below(2) ? 32 : 0xffffffff),
                                      hostile.u32() % (hostile.below(2) ? 8 : 0xffffffff), port);
                opened(rc, port);
                break;
            case 3:
                rc = events.bind_ipi(hostile.u32() % (hostile.below(2) ? 8 : 0xffffffff), port);
                opened(rc, port);
                break;
            case 4:
                rc = events.bind_vcpu(hostile.port(open), hostile.u32());
                break;
            case 5:
            case 6: {
                evtchn_port_t target = hostile.port(open);
                rc = events.close(target);
                if (backend.count(target)) {
                    EXPECT_EQ(rc, -XEN_EPERM);
                }
                if (rc == 0) {
                    EXPECT_EQ(open.erase(target), 1u) << "closed unopened " << target;
                }
                break;
            }
            case 7:
            case 8:
                rc = events.send(hostile.port(open));
                break;
            case 9:
                rc = events.unmask(hostile.port(open));
                break;
            case 10: {
                evtchn_status s{};
                s.dom = hostile.dom();
                s.port = hostile.port(open);
                rc = events.status(s);
                break;
            }
            case 11:
                if (hostile.below(8) == 0) {  // the monitor is trusted: valid vCPUs only
                    port =
                        events.bind_backend(doorbell.get(), std::uint32_t(hostile.below(kVcpus)));
                    opened(port ? 0 : -XEN_ENOSPC, port);
                    if (port) backend.insert(port);
                }
                break;
            case 12:
                events.raise(hostile.port(open));
                break;
            case 13:
                events.raise_virq(hostile.u32(), hostile.u32());
                break;
            case 14: {
                evtchn_port_t ports[4];
                for (auto& p : ports)
                    p = hostile.port(open);
                (void)events.any_pending(ports, std::uint32_t(hostile.below(5)));
                events.resync_vcpu(hostile.u32() % 8);
                break;
            }
            case 15: {  // the guest's side: mask bits, handled events
                evtchn_port_t p = hostile.port(open) % kNrPorts;
                if (hostile.below(2)) {
                    shared.evtchn_mask[p / 64] ^= bit(p);
                } else {
                    handle_all();
                }
                break;
            }
        }
        ASSERT_TRUE(documented(rc)) << "step " << step << " returned " << rc;
        ASSERT_EQ(sink.stray_kicks, 0);

        if (step % 256 != 0) continue;
        // The port table agrees with the model, and interdomain pairs point at each other.
        for (evtchn_port_t p = 1; p < kNrPorts; ++p) {
            evtchn_status s = status(p);
            ASSERT_EQ(s.status != EVTCHNSTAT_closed, open.count(p) == 1) << "port " << p;
            if (s.status == EVTCHNSTAT_closed) continue;
            EXPECT_LT(s.vcpu, kVcpus) << "port " << p;
            if (s.status == EVTCHNSTAT_virq) {
                EXPECT_LT(s.u.virq, std::uint32_t(NR_VIRQS));
            }
            if (s.status == EVTCHNSTAT_interdomain && !backend.count(p)) {
                evtchn_status peer = status(s.u.interdomain.port);
                EXPECT_EQ(peer.status, EVTCHNSTAT_interdomain) << "port " << p;
                EXPECT_EQ(peer.u.interdomain.port, p) << "port " << p;
            }
        }
    }
}

}  // namespace
}  // namespace domus::monitor
