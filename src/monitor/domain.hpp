// Domain: one guest and everything the monitor keeps for it, built in this order:
// KVM VM, guest memory, the loaded image and boot pages, clock, event channels,
// console backend, vCPUs. run() starts vCPU 0 and returns how the domain ended.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "backends/console/channel_device.hpp"
#include "backends/console/primary_console.hpp"
#include "backends/emulated_disk.hpp"
#include "backends/net/vif_device.hpp"
#include "backends/pio_device.hpp"
#include "base/result.hpp"
#include "config/domain_config.hpp"
#include "kvm/kvm.hpp"
#include "monitor/block_devices.hpp"
#include "monitor/domain_exit.hpp"
#include "monitor/domain_restore.hpp"
#include "monitor/elf_loader.hpp"
#include "monitor/event_channels.hpp"
#include "monitor/grant_table.hpp"
#include "monitor/guest_clock.hpp"
#include "monitor/guest_memory.hpp"
#include "monitor/hypercalls/host.hpp"
#include "monitor/layout.hpp"
#include "monitor/net_devices.hpp"
#include "monitor/store_link.hpp"
#include "monitor/timeline.hpp"
#include "monitor/vcpu_runner.hpp"

#include <domus/abi/start_info.h>

namespace domus::monitor {

struct DomainStats {
    std::uint64_t exits = 0;
    std::uint64_t hypercalls = 0;
    std::uint64_t doorbells = 0;
    std::uint64_t upcalls = 0;
    std::uint64_t blocks = 0;
    std::uint64_t console_bytes = 0;
    std::uint64_t console_notifications = 0;
    std::uint64_t unknown_hypercalls = 0;    // numbers no handler knows (answered -ENOSYS)
    std::uint64_t reservation_pages = 0;     // frames the guest holds (ballooning)
    std::uint64_t reservation_refusals = 0;  // frames memory_op refused (not owned, twice...)
    std::uint64_t memory_host_kib = 0;       // guest RAM the host really holds (memfd blocks)
    bool emulated_disk = false;              // the edisk_* figures below are meaningful
    backends::EmulatedDiskStats edisk;
};

// A device model claiming a range of I/O ports (both ends included).
struct PioRegistration {
    backends::PioRange range;
    backends::PioDevice* device;
};

class Domain final : public EventSink, public HypercallDomain {
public:
    // `timeline`, when given, gets a mark after each step of the set-up, at the guest's
    // shutdown and during teardown (it must outlive the domain).
    // `restore`, when given, makes the domain from a saved image instead of the kernel:
    // its memory and vCPUs as saved, its clock going on, its devices new (the guest
    // reconnects them when it resumes). The domain starts paused then.
    // `incoming`: a migration's destination. The domain is built without memory or vCPU
    // state (its disks wait too: the source holds them), paused; receive() fills it.
    // `prepared`: a VM made ahead (a warm monitor's, warm_start.hpp), used instead of a
    // new one.
    static Result<std::unique_ptr<Domain>> create(const kvm::System& kvm,
                                                  const config::DomainConfig& config,
                                                  Timeline* timeline = nullptr,
                                                  RestoreSource* restore = nullptr,
                                                  bool incoming = false,
                                                  std::optional<kvm::Vm> prepared = {});
    // Applies a saved image or a migration stream (each round's pages as they come), then
    // the vCPUs, the clock and the devices that had to wait. Once, on an incoming domain
    // (and by create() for an image). On failure the domain is stopped.
    Result<void> receive(RestoreSource& source);
    // Incoming: blocks until receive() finished; false if it failed or the domain stopped.
    bool wait_received();
    ~Domain() override;

    // Starts vCPU 0 and waits until the domain shuts down, crashes or fails. `started`,
    // when given, is called once every vCPU thread runs (domusd looks them up by their
    // host thread IDs as soon as the monitor says it is ready).
    DomainExit run(const std::function<void()>& started = {});
    // Ends the domain from any thread (a guest shutdown, a crash, a signal). First wins.
    void stop(DomainExit exit) noexcept;
    bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }
    // Pause parks every vCPU before its next guest entry; events stay pending.
    void pause() noexcept;
    void unpause() noexcept;
    bool paused() const noexcept { return paused_.load(std::memory_order_acquire); }
    // Suspend (SCHEDOP_shutdown(SHUTDOWN_suspend), Xen's protocol): the domain pauses and
    // the listener hears of it; then either the toolstack saves it (domain_save.hpp) and
    // destroys it, or resume_cancelled() lets it go on here (the guest sees 1: cancelled).
    std::int64_t guest_suspend(std::uint32_t vcpu) noexcept override;
    bool suspended() const noexcept { return suspended_.load(std::memory_order_acquire); }
    std::uint32_t suspended_vcpu() const noexcept { return suspended_vcpu_; }
    bool resume_cancelled() noexcept;
    void set_suspend_listener(std::function<void()> listener) { suspend_listener_ = listener; }
    // Size of a vCPU's extended state for KVM_GET_XSAVE2 (4096 without it).
    std::size_t xsave_size() const noexcept { return xsave_size_; }
    // True when every vCPU that is up sleeps in SCHEDOP_block/poll (xl's "b" state).
    bool all_blocked() const noexcept;

    const config::DomainConfig& config() const noexcept { return config_; }
    const Layout& layout() const noexcept override { return layout_; }
    GuestMemory& memory() noexcept override { return memory_; }
    kvm::Vm& vm() noexcept { return vm_; }
    const GuestClock& clock() const noexcept override { return clock_; }
    EventChannels& events() noexcept override { return *events_; }
    GrantTable& grants() noexcept override { return *grants_; }
    Reservation& reservation() noexcept override { return *reservation_; }
    backends::PrimaryConsole& console() noexcept { return *console_; }
    shared_info& shared() noexcept { return *shared_; }
    VcpuRunner* vcpu(std::uint32_t index) noexcept override {
        return index < vcpus_.size() ? vcpus_[index].get() : nullptr;
    }
    // The primary console's and the store's ring frame and port (0: no store).
    std::uint64_t console_gfn() const noexcept { return layout_.console_ring / kPageSize; }
    std::uint32_t console_port() const noexcept { return console_port_; }
    std::uint64_t store_gfn() const noexcept { return store_ ? layout_.store_ring / kPageSize : 0; }
    std::uint32_t store_port() const noexcept { return store_ ? store_->port() : 0; }
    // The PV block devices' counters, in configuration (then attach) order.
    std::vector<BlockDevices::DiskStats> disk_stats() const;
    using VifStats = monitor::VifStats;
    std::vector<VifStats> vif_stats() const;
    // Hot-plug and image swaps; null without a store (PV devices need XenBus).
    BlockDevices* block_devices() noexcept { return block_devices_.get(); }
    NetDevices* net_devices() noexcept { return net_devices_.get(); }
    DomainStats stats() const;
    // Port-I/O devices: KVM_EXIT_IO on a port other than the hypercall and doorbell
    // ports goes to the device whose range holds the access's first port. Registered
    // while the domain is built, before any vCPU runs; read-only afterwards.
    Result<void> add_pio_device(backends::PioRange range, backends::PioDevice& device);
    backends::PioDevice* pio_device(std::uint16_t port) const noexcept;

    // EventSink (nr_vcpus and vcpu_info_of serve HypercallDomain too)
    std::uint32_t nr_vcpus() const noexcept override { return std::uint32_t(vcpus_.size()); }
    vcpu_info* vcpu_info_of(std::uint32_t vcpu) noexcept override;
    void kick(std::uint32_t vcpu) noexcept override;
    void notify_backend(int backend_eventfd) noexcept override;

    // HypercallDomain
    domid_t domid() const noexcept override { return config_.domid; }
    std::uint64_t hypercall_page() const noexcept override { return hypercall_page_; }
    std::mutex& vcpu_lock() noexcept override { return vcpu_lock_; }
    void console_write(std::span<const char> text) noexcept override;
    std::size_t console_read(std::span<char> buffer) noexcept override;
    void guest_shutdown(ExitKind kind, std::uint32_t code) noexcept override;
    void set_pending_crash_reason(std::uint32_t reason) noexcept override {
        shutdown_code_reason_ = reason;
    }
    void count_unknown_hypercall() noexcept override {
        unknown_hypercalls_.fetch_add(1, std::memory_order_relaxed);
    }

private:
    Domain(const config::DomainConfig& config, kvm::Vm vm, GuestMemory memory, Layout layout,
           std::uint64_t tsc_khz);
    Result<void> build(const kvm::System& kvm);
    Result<void> build_devices(const kvm::System& kvm, const ElfImage* image);
    Result<void> finish_restore(const RestoreSource& source);
    Result<void> write_start_info(const ElfImage& image);
    Result<void> setup_boot_vcpu(const kvm::System& kvm, const ElfImage& image);
    void mark(const char* step) noexcept {
        if (timeline_) timeline_->mark(step);
    }

    Timeline* timeline_ = nullptr;
    config::DomainConfig config_;
    kvm::Vm vm_;
    GuestMemory memory_;
    Layout layout_;
    GuestClock clock_;
    shared_info* shared_ = nullptr;
    std::unique_ptr<EventChannels> events_;
    std::unique_ptr<GrantTable> grants_;  // before the backends: their mappings go first
    std::unique_ptr<Reservation> reservation_;
    std::unique_ptr<backends::PrimaryConsole> console_;
    std::unique_ptr<StoreLink> store_;
    std::uint32_t console_port_ = 0;
    std::unique_ptr<backends::EmulatedDisk> emulated_disk_;
    std::vector<PioRegistration> pio_devices_;
    std::unique_ptr<BlockDevices> block_devices_;  // after grants_ and events_: go first
    std::vector<std::unique_ptr<backends::ChannelDevice>> channels_;  // likewise
    std::unique_ptr<NetDevices> net_devices_;                         // likewise
    std::vector<std::unique_ptr<VcpuRunner>> vcpus_;
    std::uint32_t shutdown_code_reason_ = 0;
    std::uint64_t hypercall_page_ = 0;  // guest-physical, inside the image
    std::mutex vcpu_lock_;
    std::atomic<std::uint64_t> unknown_hypercalls_{0};

    bool restoring_ = false;  // made from an image or a stream, not the kernel
    bool restored_ = false;   // its memory and vCPUs are in (guarded by exit_mutex_)
    std::size_t xsave_size_ = 4096;
    std::atomic<bool> suspended_{false};
    std::uint32_t suspended_vcpu_ = 0;
    std::function<void()> suspend_listener_;

    std::atomic<bool> stopping_{false};
    std::atomic<bool> paused_{false};
    std::mutex exit_mutex_;
    std::condition_variable exit_cv_;
    DomainExit exit_;
};

// Boot-time vCPU state shared by vCPU 0 and secondaries.
Result<void> configure_vcpu(const kvm::System& kvm, kvm::Vcpu& vcpu, const Layout& layout);

}  // namespace domus::monitor
