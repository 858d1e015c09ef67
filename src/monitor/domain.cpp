// Domain construction (image, boot pages, vCPU state) and lifetime.
#include "monitor/domain.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "base/checked.hpp"
#include "base/log.hpp"
#include "monitor/device_host.hpp"
#include "monitor/hypercall_page.hpp"
#include "monitor/page_tables.hpp"

#include <domus/abi/version.h>

namespace domus::monitor {
namespace {

constexpr std::uint64_t kCr0Pe = 1ull << 0, kCr0Mp = 1ull << 1, kCr0Et = 1ull << 4,
                        kCr0Ne = 1ull << 5, kCr0Wp = 1ull << 16, kCr0Am = 1ull << 18,
                        kCr0Pg = 1ull << 31;
constexpr std::uint64_t kCr4Pae = 1ull << 5, kCr4Osfxsr = 1ull << 9, kCr4Osxmmexcpt = 1ull << 10,
                        kCr4Fsgsbase = 1ull << 16, kCr4Osxsave = 1ull << 18;
constexpr std::uint64_t kEferLme = 1ull << 8, kEferLma = 1ull << 10;
// The host's user selectors: the only ones iretq accepts on this KVM (DESIGN.md).
constexpr std::uint16_t kUserCode = 0x33, kUserData = 0x2b;

const kvm_cpuid_entry2* find_cpuid(const kvm::System& kvm, std::uint32_t function,
                                   std::uint32_t index) {
    for (const auto& entry : kvm.supported_cpuid())
        if (entry.function == function && entry.index == index) return &entry;
    return nullptr;
}

// Where the guest's free memory starts: the first 2 MiB boundary after its image, never
// past the monitor area (start_info's heap_start).
std::uint64_t heap_start_of(const ElfImage& image, const Layout& layout) {
    return std::min(align_up(image.image_end, kLargePageSize), layout.monitor_area);
}

bool has_fsgsbase(const kvm::System& kvm) {
    auto* leaf7 = find_cpuid(kvm, 7, 0);
    return leaf7 && (leaf7->ebx & 1);
}

kvm_segment user_segment(std::uint16_t selector, bool code) {
    kvm_segment segment{};
    segment.base = 0;
    segment.limit = 0xFFFFFFFF;
    segment.selector = selector;
    segment.type = code ? 0xB : 0x3;
    segment.present = 1;
    segment.dpl = 3;
    segment.db = code ? 0 : 1;
    segment.s = 1;
    segment.l = code ? 1 : 0;
    segment.g = 1;
    return segment;
}

}  // namespace

Result<void> configure_vcpu(const kvm::System& kvm, kvm::Vcpu& vcpu, const Layout& layout) {
    DOMUS_TRY_VOID(vcpu.set_cpuid(kvm.supported_cpuid()));
    // Enable every extended state KVM offers (x87/SSE/AVX/AVX-512...), so the guest
    // can use them and KVM_GET_XSAVE2 later exports them (DESIGN.md).
    if (auto* xsave = find_cpuid(kvm, 0xD, 0)) {
        std::uint64_t xcr0 =
            (std::uint64_t(xsave->edx) << 32 | xsave->eax) & 0xFFull;  // user states
        DOMUS_TRY_VOID(vcpu.set_xcr0(xcr0 | 1));
    }
    DOMUS_TRY(sregs, vcpu.get_sregs());
    sregs.cs = user_segment(kUserCode, true);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = user_segment(kUserData, false);
    // The TSS's I/O bitmap lets CPL3 use every port (layout.hpp, build_tss).
    sregs.tr = {};
    sregs.tr.base = layout.tss;
    sregs.tr.limit = kTssLimit;
    sregs.tr.type = 0xB;
    sregs.tr.present = 1;
    sregs.ldt = {};
    sregs.ldt.type = 0x2;
    sregs.ldt.unusable = 1;
    sregs.gdt = {};
    sregs.idt = {};
    sregs.cr0 = kCr0Pe | kCr0Mp | kCr0Et | kCr0Ne | kCr0Wp | kCr0Am | kCr0Pg;
    sregs.cr3 = layout.page_tables;
    sregs.cr4 = kCr4Pae | kCr4Osfxsr | kCr4Osxmmexcpt | kCr4Osxsave |
                (has_fsgsbase(kvm) ? kCr4Fsgsbase : 0);
    sregs.efer = kEferLme | kEferLma;
    DOMUS_TRY_VOID(vcpu.set_sregs(sregs));
    // Registers come back in kvm_run after every exit and go in from there.
    vcpu.run_state()->kvm_valid_regs = KVM_SYNC_X86_REGS;
    return {};
}

Domain::Domain(const config::DomainConfig& config, kvm::Vm vm, GuestMemory memory, Layout layout,
               std::uint64_t tsc_khz)
    : config_(config),
      vm_(std::move(vm)),
      memory_(std::move(memory)),
      layout_(layout),
      clock_(tsc_khz) {}

Domain::~Domain() {
    stop(DomainExit{ExitKind::error, 0, "monitor shut down"});
    for (auto& vcpu : vcpus_)
        vcpu->join();
    if (console_) console_->stop();
    // Backend threads raise events, which looks up vCPUs: stop them while those exist.
    if (block_devices_) block_devices_->clear();
    channels_.clear();
    if (net_devices_) net_devices_->clear();
    mark("devices_stopped");
    store_.reset();
    mark("store_detached");
}

Result<std::unique_ptr<Domain>> Domain::create(const kvm::System& kvm,
                                               const config::DomainConfig& config,
                                               Timeline* timeline, RestoreSource* restore,
                                               bool incoming, std::optional<kvm::Vm> prepared) {
    if (config.vcpus < 1 || config.vcpus > DOMUS_MAX_VCPUS)
        return make_error("vcpus must be 1..{}, not {}", DOMUS_MAX_VCPUS, config.vcpus);
    if (config.cmdline.size() >= MAX_GUEST_CMDLINE)
        return make_error("command line is {} bytes; the limit is {}", config.cmdline.size(),
                          MAX_GUEST_CMDLINE - 1);
    if (config.memory_mib > (kMaxMemory >> 20) || config.memory_mib < (kMinMemory >> 20))
        return make_error("memory must be {}..{} MiB, not {}", kMinMemory >> 20, kMaxMemory >> 20,
                          config.memory_mib);
    if (config.maxmem_mib != 0 &&
        (config.maxmem_mib < config.memory_mib || config.maxmem_mib > (kMaxMemory >> 20)))
        return make_error("maxmem must be {}..{} MiB, not {}", config.memory_mib, kMaxMemory >> 20,
                          config.maxmem_mib);
    // The RAM is sized to maxmem: the guest balloons down to `memory` itself at boot
    // (its balloon driver reads memory/target before main()); untouched frames of the
    // memfd cost the host nothing meanwhile.
    DOMUS_TRY(layout, Layout::compute(std::max(config.memory_mib, config.maxmem_mib) << 20));
    auto mark = [timeline](const char* step) {
        if (timeline) timeline->mark(step);
    };
    if (!prepared) {
        DOMUS_TRY(made, kvm::Vm::create(kvm));
        prepared.emplace(std::move(made));
    }
    kvm::Vm vm = std::move(*prepared);
    mark("vm_created");
    DOMUS_TRY(memory, GuestMemory::create(layout.memory_size, kImageBase));
    DOMUS_TRY_VOID(vm.set_memory_region(0, 0, memory.size(), memory.base()));
    mark("memory_mapped");
    std::uint64_t tsc_khz = vm.tsc_khz();  // 0: GuestClock calibrates (5 ms)
    std::unique_ptr<Domain> domain(
        new Domain(config, std::move(vm), std::move(memory), layout, tsc_khz));
    domain->timeline_ = timeline;
    domain->restoring_ = restore || incoming;
    if (int size = ::ioctl(domain->vm_.fd(), KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2); size > 4096)
        domain->xsave_size_ = std::size_t(size);
    mark("clock_ready");
    DOMUS_TRY_VOID(domain->build(kvm));
    if (restore) DOMUS_TRY_VOID(domain->receive(*restore));
    return domain;
}

Result<void> Domain::receive(RestoreSource& source) {
    auto received = [&]() -> Result<void> {
        const auto& info = source.info();
        if (info.vcpus != vcpus_.size())
            return make_error("the stream is of a domain with {} vCPUs, this one has {}",
                              info.vcpus, vcpus_.size());
        DOMUS_TRY_VOID(source.load(memory_));
        mark("image_loaded");
        return finish_restore(source);
    }();
    if (!received) {
        stop({ExitKind::error, 0, "restore: " + received.error().message});
        return received;
    }
    {
        std::lock_guard lock(exit_mutex_);
        restored_ = true;
    }
    exit_cv_.notify_all();
    return received;
}

bool Domain::wait_received() {
    std::unique_lock lock(exit_mutex_);
    exit_cv_.wait(lock, [&] { return restored_ || stopping(); });
    return restored_ && !stopping();
}

// Memory as saved (page tables, TSS, start info and shared info with it): the clock goes
// on from the saved system time, the console and store rings are cleared for the new
// backends (the guest resets its side on resume) and start info names their new ports.
Result<void> Domain::finish_restore(const RestoreSource& source) {
    hypercall_page_ = source.info().hypercall_page;
    auto* start = memory_.object<start_info>(layout_.start_info);
    if (!start || std::strncmp(start->magic, DOMUS_START_INFO_MAGIC, sizeof(start->magic)) != 0)
        return make_error("the saved image has no start info where this Domus puts it");
    std::uint64_t heap_start = std::min(start->domus.heap_start, layout_.monitor_area);
    reservation_->reset(heap_start, layout_.monitor_area);
    if (source.physmap)  // what the guest gave back stays given back
        DOMUS_TRY_VOID(reservation_->restore(source.physmap->populated, source.physmap->maximum));
    for (std::uint64_t ring : {layout_.console_ring, layout_.store_ring})
        std::memset(memory_.range(ring, kPageSize)->data(), 0, kPageSize);
    start->console.evtchn = console_port_;
    start->store_mfn = store_ ? layout_.store_ring / kPageSize : 0;
    start->store_evtchn = store_ ? store_->port() : 0;
    clock_.continue_from(source.clock.system_time_ns);
    clock_.publish_wallclock(*shared_);
    for (std::uint32_t i = 0; i < vcpus_.size(); ++i) {
        DOMUS_TRY_VOID(vcpus_[i]->restore(source.vcpus.at(i)));
        std::uint64_t info = vcpus_[i]->vcpu_info_gpa();
        if (auto* where = info ? memory_.object<vcpu_info>(info) : nullptr)
            clock_.publish(where->time);
    }
    // The disks last: a migration's source lets go of them only at the end.
    for (const auto& disk : config_.disks)
        DOMUS_TRY_VOID(block_devices_->attach(disk));
    mark("restored");
    return {};
}

Result<void> Domain::build(const kvm::System& kvm) {
    if (restoring_) return build_devices(kvm, nullptr);
    DOMUS_TRY(file, read_file(config_.kernel));
    mark("kernel_read");
    auto parsed = parse_elf(file, kImageBase, layout_.monitor_area);
    if (!parsed) return make_error("{}: {}", config_.kernel, parsed.error().message);
    mark("kernel_parsed");
    const ElfImage& image = parsed.value();
    DOMUS_TRY_VOID(load_elf(image, file, memory_));
    fill_hypercall_page(*memory_.range(image.hypercall_page, kPageSize));
    hypercall_page_ = image.hypercall_page;
    // The guest may give back its free memory only: not the image (the hypercall page is
    // in it), nor the monitor area; the NULL guard below the image is never RAM it uses.
    std::uint64_t heap_start = heap_start_of(image, layout_);
    reservation_ = std::make_unique<Reservation>(memory_, heap_start, layout_.monitor_area);
    mark("image_loaded");

    auto tables = memory_.range(layout_.page_tables, layout_.page_table_frames * kPageSize);
    if (!tables || !build_identity_map(*tables, layout_.page_tables, layout_.memory_size))
        return make_error("cannot build page tables for {} bytes", layout_.memory_size);
    // The guest kernel's first pages (its allocator takes them from heap_end down):
    // backed here, for a fraction of what the guest's own first touches would cost.
    std::uint64_t backed = std::max(heap_start, layout_.monitor_area - DOMUS_BOOT_BACKED_BYTES);
    (void)memory_.back(backed, layout_.monitor_area - backed);
    mark("page_tables_built");

    auto tss = memory_.range(layout_.tss, kTssPages * kPageSize);
    if (!tss || !build_tss(*tss)) return make_error("cannot build the TSS");

    shared_ = memory_.object<shared_info>(layout_.shared_info);
    for (auto& info : shared_->vcpu_info)
        info.evtchn_upcall_mask = 1;
    clock_.publish_wallclock(*shared_);
    return build_devices(kvm, &image);
}

Result<void> Domain::build_devices(const kvm::System& kvm, const ElfImage* image) {
    if (!image) {  // memory comes from a saved image or a stream: receive()
        shared_ = memory_.object<shared_info>(layout_.shared_info);
        reservation_ =
            std::make_unique<Reservation>(memory_, layout_.monitor_area, layout_.monitor_area);
    }
    events_ = std::make_unique<EventChannels>(*shared_, *this, config_.domid);
    grants_ =
        std::make_unique<GrantTable>(memory_, config_.domid, kImageBase, layout_.monitor_area);

    console_ = std::make_unique<backends::PrimaryConsole>(
        *memory_.range(layout_.console_ring, kPageSize), config_.console_output_fd,
        config_.console_input_fd);
    evtchn_port_t console_port = events_->bind_backend(console_->doorbell_fd());
    console_port_ = console_port;
    DOMUS_TRY_VOID(
        vm_.add_pio_eventfd(console_->doorbell_fd(), DOMUS_DOORBELL_PORT, 4, console_port));

    if (!config_.emulated_disk.empty()) {
        DOMUS_TRY(disk, backends::EmulatedDisk::open(config_.emulated_disk,
                                                     config_.emulated_disk_read_only));
        emulated_disk_ = std::move(disk);
        for (auto range : backends::EmulatedDisk::kRanges)
            DOMUS_TRY_VOID(add_pio_device(range, *emulated_disk_));
    }

    for (std::uint32_t i = 0; i < config_.vcpus; ++i) {
        DOMUS_TRY(vcpu, vm_.create_vcpu(kvm, int(i)));
        DOMUS_TRY_VOID(configure_vcpu(kvm, *vcpu, layout_));
        std::uint64_t info =
            i < XEN_LEGACY_MAX_VCPUS ? layout_.shared_info + i * sizeof(vcpu_info) : 0;
        vcpus_.push_back(std::make_unique<VcpuRunner>(*this, std::move(vcpu), info));
        if (auto* where = image && info ? memory_.object<vcpu_info>(info) : nullptr)
            clock_.publish(where->time);
    }
    mark("vcpus_created");
    if (image) {
        DOMUS_TRY_VOID(write_start_info(*image));
        // A new domain's vCPU threads start now and park (every vCPU is down until
        // run() brings vCPU 0 up): a new thread takes up to a millisecond to get a CPU
        // here, time that the devices' set-up below now hides. A restored domain's
        // vCPUs may be up already: its threads start in run(), once it is complete.
        for (auto& vcpu : vcpus_)
            vcpu->start_thread();
    }
    console_->start([this, console_port] { events_->raise(console_port); });
    auto* start = memory_.object<start_info>(layout_.start_info);
    start->console.evtchn = console_port;
    if (!config_.store_run_dir.empty()) {
        auto link = StoreLink::attach(config_.store_run_dir, config_.domid, memory_,
                                      layout_.store_ring, *events_);
        if (!link) return std::move(link).error();
        store_ = std::move(link).value();
        DOMUS_TRY_VOID(
            vm_.add_pio_eventfd(store_->guest_notify_fd(), DOMUS_DOORBELL_PORT, 4, store_->port()));
        store_->start();
        start->store_mfn = layout_.store_ring / kPageSize;
        start->store_evtchn = store_->port();
        mark("store_attached");
    }
    if (!config_.disks.empty() && config_.store_run_dir.empty())
        return make_error("PV disks are negotiated through the store: give a store run directory");
    if (!config_.store_run_dir.empty())
        block_devices_ =
            std::make_unique<BlockDevices>(*this, config_.store_run_dir + "/xenstored/socket");
    if (image)  // else once the memory is in (finish_restore)
        for (const auto& disk : config_.disks)
            DOMUS_TRY_VOID(block_devices_->attach(disk));
    if (!config_.channels.empty() && config_.store_run_dir.empty())
        return make_error("channels are negotiated through the store: give a store run directory");
    for (const auto& channel : config_.channels) {
        DOMUS_TRY(host, DeviceHost::create(*this, config_.store_run_dir + "/xenstored/socket"));
        DOMUS_TRY(device, backends::ChannelDevice::create(std::move(host), channel));
        device->start();
        channels_.push_back(std::move(device));
    }
    if (!config_.vifs.empty() && config_.store_run_dir.empty())
        return make_error("vifs are negotiated through the store: give a store run directory");
    if (!config_.store_run_dir.empty())
        net_devices_ =
            std::make_unique<NetDevices>(*this, config_.store_run_dir + "/xenstored/socket");
    for (const auto& vif : config_.vifs)
        DOMUS_TRY_VOID(net_devices_->attach(vif));

    mark("devices_attached");
    if (!image) {
        paused_.store(true);  // the toolstack unpauses it (or not: restore -p)
        return {};
    }
    domus_vcpu_context boot{};
    boot.rip = image->entry;
    boot.rsp = layout_.boot_stack_top;
    boot.rdi = 0;
    if (vcpus_[0]->initialise(boot) != 0) return make_error("cannot initialise vCPU 0");
    return {};
}

Result<void> Domain::write_start_info(const ElfImage& image) {
    auto* start = memory_.object<start_info>(layout_.start_info);
    std::memset(start, 0, sizeof(*start));
    std::strncpy(start->magic, DOMUS_START_INFO_MAGIC, sizeof(start->magic) - 1);
    start->nr_pages = nr_pages();
    start->shared_info = layout_.shared_info;
    start->console.mfn = layout_.console_ring / kPageSize;
    start->pt_base = layout_.page_tables;
    start->nr_pt_frames = layout_.page_table_frames;
    std::memcpy(start->cmd_line, config_.cmdline.data(), config_.cmdline.size());
    start->domus.abi_version = DOMUS_ABI_VERSION;
    start->domus.nr_vcpus = config_.vcpus;
    start->domus.heap_start = heap_start_of(image, layout_);
    start->domus.heap_end = layout_.monitor_area;
    start->domus.tsc_khz = clock_.tsc_khz();
    auto sregs = vcpus_[0]->kvm().get_sregs();
    if (sregs && (sregs->cr4 & kCr4Fsgsbase)) start->domus.flags |= DOMUS_BOOT_FSGSBASE;
    if (emulated_disk_) start->domus.flags |= DOMUS_BOOT_EMULATED_DISK;
    return {};
}

DomainExit Domain::run(const std::function<void()>& started) {
    for (auto& vcpu : vcpus_)
        if (!vcpu->thread_started()) vcpu->start_thread();
    if (!restoring_) vcpus_[0]->bring_up();
    mark("vcpus_started");
    if (started) {
        for (auto& vcpu : vcpus_)
            vcpu->wait_started();
        started();
    }
    {
        std::unique_lock lock(exit_mutex_);
        exit_cv_.wait(lock, [&] { return stopping(); });
    }
    mark("stop_seen");
    for (auto& vcpu : vcpus_)
        vcpu->join();
    mark("vcpus_joined");
    console_->stop();
    // The guest is gone: its channels' clients see the end now, not at destruction.
    channels_.clear();
    mark("console_stopped");
    std::lock_guard lock(exit_mutex_);
    return exit_;
}

void Domain::stop(DomainExit exit) noexcept {
    {
        std::lock_guard lock(exit_mutex_);
        if (stopping()) return;
        exit_ = std::move(exit);
        stopping_.store(true, std::memory_order_release);
    }
    exit_cv_.notify_all();
    for (auto& vcpu : vcpus_)
        vcpu->kick();
}

std::vector<Domain::VifStats> Domain::vif_stats() const {
    return net_devices_ ? net_devices_->stats() : std::vector<VifStats>{};
}

std::vector<BlockDevices::DiskStats> Domain::disk_stats() const {
    std::vector<BlockDevices::DiskStats> stats;
    if (block_devices_) stats = block_devices_->stats();
    return stats;
}

void Domain::pause() noexcept {
    paused_.store(true, std::memory_order_release);
    for (auto& vcpu : vcpus_)
        vcpu->kick();
}

void Domain::unpause() noexcept {
    paused_.store(false, std::memory_order_release);
    for (auto& vcpu : vcpus_)
        vcpu->kick();
}

bool Domain::all_blocked() const noexcept {
    bool any_up = false;
    for (auto& vcpu : vcpus_) {
        if (!vcpu->is_up()) continue;
        any_up = true;
        if (!vcpu->blocked()) return false;
    }
    return any_up;
}

vcpu_info* Domain::vcpu_info_of(std::uint32_t vcpu) noexcept {
    if (vcpu >= vcpus_.size()) return nullptr;
    std::uint64_t gpa = vcpus_[vcpu]->vcpu_info_gpa();
    return gpa ? memory_.object<vcpu_info>(gpa) : nullptr;
}

void Domain::kick(std::uint32_t vcpu) noexcept {
    if (vcpu < vcpus_.size()) vcpus_[vcpu]->kick();
}

void Domain::console_write(std::span<const char> text) noexcept {
    try {  // the backend's history buffer may grow: losing a line beats terminating
        console_->write_direct(text.data(), text.size());
    } catch (...) {
    }
}

std::size_t Domain::console_read(std::span<char> buffer) noexcept {
    return console_->read_direct(buffer.data(), buffer.size());
}

void Domain::guest_shutdown(ExitKind kind, std::uint32_t code) noexcept {
    const char* why = kind == ExitKind::crash      ? "the guest reported a crash"
                      : kind == ExitKind::watchdog ? "watchdog"
                                                   : "";
    mark("guest_shutdown");
    DomainExit exit{kind, code, {}};
    try {  // the description is the only allocation; without it the exit still counts
        exit.detail = why;
    } catch (...) {
    }
    stop(std::move(exit));
}

std::int64_t Domain::guest_suspend(std::uint32_t vcpu) noexcept {
    if (suspended_.load()) return -XEN_EINVAL;
    mark("guest_suspend");
    suspended_vcpu_ = vcpu;
    suspended_.store(true, std::memory_order_release);
    pause();
    if (suspend_listener_) {
        try {
            suspend_listener_();
        } catch (...) {
        }
    }
    return 1;  // what the guest sees if it goes on here (a cancelled suspend)
}

bool Domain::resume_cancelled() noexcept {
    if (!suspended_.exchange(false)) return false;
    unpause();
    return true;
}

void Domain::notify_backend(int backend_eventfd) noexcept {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(backend_eventfd, &one, sizeof(one));
}

DomainStats Domain::stats() const {
    DomainStats total;
    for (auto& vcpu : vcpus_) {
        auto& s = vcpu->stats();
        total.exits += s.exits.load();
        total.hypercalls += s.hypercalls.load();
        total.doorbells += s.doorbells.load();
        total.upcalls += s.upcalls.load();
        total.blocks += s.blocks.load();
    }
    total.unknown_hypercalls = unknown_hypercalls_.load(std::memory_order_relaxed);
    if (reservation_) {
        total.reservation_pages = reservation_->current_frames();
        total.reservation_refusals = reservation_->refusals();
        total.memory_host_kib = reservation_->host_bytes() / 1024;
    }
    if (console_) {
        total.console_bytes = console_->bytes_out();
        total.console_notifications = console_->notifications();
    }
    if (emulated_disk_) {
        total.emulated_disk = true;
        total.edisk = emulated_disk_->stats();
    }
    return total;
}

Result<void> Domain::add_pio_device(backends::PioRange range, backends::PioDevice& device) {
    auto holds = [](backends::PioRange r, unsigned port) {
        return r.first_port <= port && port <= r.last_port;
    };
    if (range.first_port > range.last_port)
        return make_error("port range {:#x}-{:#x} is empty", range.first_port, range.last_port);
    if (holds(range, DOMUS_HYPERCALL_PORT) || holds(range, DOMUS_DOORBELL_PORT))
        return make_error("port range {:#x}-{:#x} holds the hypercall or doorbell port",
                          range.first_port, range.last_port);
    for (const auto& other : pio_devices_)
        if (range.first_port <= other.range.last_port && other.range.first_port <= range.last_port)
            return make_error("port range {:#x}-{:#x} overlaps {:#x}-{:#x}", range.first_port,
                              range.last_port, other.range.first_port, other.range.last_port);
    pio_devices_.push_back({range, &device});
    return {};
}

backends::PioDevice* Domain::pio_device(std::uint16_t port) const noexcept {
    for (const auto& entry : pio_devices_)
        if (entry.range.first_port <= port && port <= entry.range.last_port) return entry.device;
    return nullptr;
}

}  // namespace domus::monitor
