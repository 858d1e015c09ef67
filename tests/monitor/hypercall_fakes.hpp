// A fake domain and fake vCPUs for the hypercall handlers (no /dev/kvm): real guest
// memory, event channels and grant table; shared by the unit tests and the fuzz harness.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "monitor/hypercalls.hpp"

#include <domus/abi/vcpu.h>

namespace domus::monitor::fakes {

constexpr domid_t kDomid = 7;
constexpr std::uint64_t kMemory = 16ull << 20;
constexpr std::uint64_t kScratch = 4ull << 20;        // guest RAM the tests write arguments to
constexpr std::uint64_t kHypercallPage = 3ull << 20;  // where the "image" has it
constexpr std::uint64_t kFreeMemory = 8ull
                                      << 20;  // "heap_start": the guest may give back from here

class FakeVcpu final : public HypercallVcpu {
public:
    FakeVcpu(std::uint32_t index, std::uint64_t vcpu_info) : index_(index), gpa_(vcpu_info) {}

    std::uint32_t index() const noexcept override { return index_; }
    int initialise(const domus_vcpu_context& context) noexcept override {
        if (up) return -XEN_EEXIST;
        initialised = context;
        return 0;
    }
    int bring_up() noexcept override {
        up = true;
        return 0;
    }
    bool is_up() const noexcept override { return up; }
    std::uint64_t vcpu_info_gpa() const noexcept override { return gpa_; }
    bool vcpu_info_registered() const noexcept override { return registered_; }
    void move_vcpu_info(std::uint64_t gpa) noexcept override {
        gpa_ = gpa;
        registered_ = true;
    }
    void go_down() noexcept override { up = false; }
    void set_timer(std::uint64_t deadline_ns) noexcept override { timer = deadline_ns; }
    void block_until(WakeCondition ready, std::uint64_t deadline_ns) noexcept override {
        ++blocks;
        ready_when_blocked = ready();  // a fake never sleeps
        block_deadline = deadline_ns;
    }
    void set_upcall_entry(std::uint64_t address) noexcept override { upcall_entry = address; }
    bool set_segment_base(SegmentBase which, std::uint64_t base) noexcept override {
        (which == SegmentBase::fs ? fs_base : gs_base) = base;
        return true;
    }

    bool up = false;
    domus_vcpu_context initialised{};
    std::uint64_t timer = 0;
    int blocks = 0;
    bool ready_when_blocked = false;
    std::uint64_t block_deadline = 0;
    std::uint64_t upcall_entry = 0;
    std::uint64_t fs_base = 0, gs_base = 0;

private:
    std::uint32_t index_;
    std::uint64_t gpa_;
    bool registered_ = false;
};

class FakeDomain final : public HypercallDomain, public EventSink {
public:
    explicit FakeDomain(std::uint32_t nr_vcpus)
        : layout_(Layout::compute(kMemory).value()),
          memory_(GuestMemory::create(layout_.memory_size, kImageBase).value()),
          clock_(1'000'000),
          shared_(memory_.object<shared_info>(layout_.shared_info)),
          events_(*shared_, *this, kDomid),
          grants_(memory_, kDomid, kImageBase, layout_.monitor_area),
          reservation_(memory_, kFreeMemory, layout_.monitor_area) {
        for (std::uint32_t i = 0; i < nr_vcpus; ++i)
            vcpus_.push_back(std::make_unique<FakeVcpu>(
                i, i < XEN_LEGACY_MAX_VCPUS ? layout_.shared_info + i * sizeof(vcpu_info) : 0));
    }

    // HypercallDomain
    domid_t domid() const noexcept override { return kDomid; }
    const Layout& layout() const noexcept override { return layout_; }
    GuestMemory& memory() noexcept override { return memory_; }
    const GuestClock& clock() const noexcept override { return clock_; }
    EventChannels& events() noexcept override { return events_; }
    GrantTable& grants() noexcept override { return grants_; }
    Reservation& reservation() noexcept override { return reservation_; }
    std::uint64_t hypercall_page() const noexcept override { return kHypercallPage; }
    FakeVcpu* vcpu(std::uint32_t index) noexcept override {
        return index < vcpus_.size() ? vcpus_[index].get() : nullptr;
    }
    std::mutex& vcpu_lock() noexcept override { return vcpu_lock_; }
    void console_write(std::span<const char> text) noexcept override {
        console_out.append(text.data(), text.size());
    }
    std::size_t console_read(std::span<char> buffer) noexcept override {
        std::size_t n = std::min(buffer.size(), console_in.size());
        std::memcpy(buffer.data(), console_in.data(), n);
        return n;
    }
    void guest_shutdown(ExitKind kind, std::uint32_t code) noexcept override {
        ++shutdowns;
        exit_kind = kind;
        exit_code = code;
    }
    void set_pending_crash_reason(std::uint32_t reason) noexcept override { crash_reason = reason; }
    void count_unknown_hypercall() noexcept override { ++unknown; }

    // HypercallDomain and EventSink
    std::uint32_t nr_vcpus() const noexcept override { return std::uint32_t(vcpus_.size()); }
    vcpu_info* vcpu_info_of(std::uint32_t index) noexcept override {
        std::uint64_t gpa = index < vcpus_.size() ? vcpus_[index]->vcpu_info_gpa() : 0;
        return gpa ? memory_.object<vcpu_info>(gpa) : nullptr;
    }
    void kick(std::uint32_t) noexcept override { ++kicks; }
    void notify_backend(int fd) noexcept override {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(fd, &one, sizeof(one));
    }

    shared_info& shared() { return *shared_; }

    std::string console_out;
    std::string console_in;
    int shutdowns = 0;
    ExitKind exit_kind = ExitKind::error;
    std::uint32_t exit_code = 0;
    std::uint32_t crash_reason = 0;
    std::uint64_t unknown = 0;
    int kicks = 0;

private:
    Layout layout_;
    GuestMemory memory_;
    GuestClock clock_;
    shared_info* shared_;
    EventChannels events_;
    GrantTable grants_;
    Reservation reservation_;
    std::vector<std::unique_ptr<FakeVcpu>> vcpus_;
    std::mutex vcpu_lock_;
};

}  // namespace domus::monitor::fakes
