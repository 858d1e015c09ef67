// KVM API wrapper implementation.
#include "kvm/kvm.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "kvm/cpuid_cache.hpp"

namespace domus::kvm {
namespace {

// The uapi header's flexible array (__DECLARE_FLEX_ARRAY) makes sizeof(kvm_cpuid2) 12 in
// C++ instead of 8, which changes the ioctl numbers and moves `entries` to offset 12;
// spell both with the real 8-byte header.
struct CpuidHeader {
    __u32 nent;
    __u32 padding;
};
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);

}  // namespace

Result<System> System::open(const char* path, const std::string& cpuid_cache) {
    System system;
    system.fd_ = Fd(::open(path, O_RDWR | O_CLOEXEC));
    if (!system.fd_) return errno_error(fmt::format("open {}", path));
    int version = ::ioctl(system.fd(), KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION)
        return make_error("{}: KVM API version {} (need {})", path, version, KVM_API_VERSION);
    int size = ::ioctl(system.fd(), KVM_GET_VCPU_MMAP_SIZE, 0);
    if (size <= 0) return errno_error("KVM_GET_VCPU_MMAP_SIZE");
    system.vcpu_mmap_size_ = std::size_t(size);
    for (long cap : {KVM_CAP_SYNC_REGS, KVM_CAP_IOEVENTFD, KVM_CAP_IMMEDIATE_EXIT}) {
        if (system.check_extension(cap) <= 0)
            return make_error("{}: KVM lacks capability {} that Domus needs", path, cap);
    }
    if ((system.check_extension(KVM_CAP_SYNC_REGS) & (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) !=
        (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS))
        return make_error("{}: KVM cannot sync registers through kvm_run", path);

    std::string identity;
    if (!cpuid_cache.empty()) {
        identity = host_cpuid_identity();
        if (auto cached = load_cached_cpuid(cpuid_cache, identity)) {
            system.cpuid_ = std::move(*cached);
            return system;
        }
    }
    std::vector<std::byte> buffer(sizeof(CpuidHeader) +
                                  kMaxCpuidEntries * sizeof(kvm_cpuid_entry2));
    auto* header = reinterpret_cast<CpuidHeader*>(buffer.data());
    header->nent = kMaxCpuidEntries;
    if (::ioctl(system.fd(), kGetSupportedCpuid, header) < 0)
        return errno_error("KVM_GET_SUPPORTED_CPUID");
    // Entries start right after the 8-byte header (not at kvm_cpuid2::entries in C++).
    system.cpuid_.resize(header->nent);
    std::memcpy(system.cpuid_.data(), buffer.data() + sizeof(CpuidHeader),
                header->nent * sizeof(kvm_cpuid_entry2));
    if (!cpuid_cache.empty()) (void)store_cached_cpuid(cpuid_cache, identity, system.cpuid_);
    return system;
}

int System::check_extension(long capability) const noexcept {
    return ::ioctl(fd(), KVM_CHECK_EXTENSION, capability);
}

Result<Vm> Vm::create(const System& system) {
    int fd;
    do {
        fd = ::ioctl(system.fd(), KVM_CREATE_VM, 0);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno_error("KVM_CREATE_VM");
    Fd vm(fd);
    // An in-kernel local APIC (no PIC or IOAPIC: "split"), which Domus never uses (upcalls
    // are injected through the registers). Without one, each vCPU holds KVM's
    // kvm_has_noapic_vcpu static key, which is not rate-limited: the first such vCPU on
    // the host and the last one's end each patch the kernel's text, ~0.2 ms of a lone
    // domain's start here. The APIC's own keys are rate-limited (patched at most once a
    // second). A KVM without it only pays that cost.
    kvm_enable_cap cap{};
    cap.cap = KVM_CAP_SPLIT_IRQCHIP;
    cap.args[0] = 0;  // no IOAPIC routes
    (void)::ioctl(vm.get(), KVM_ENABLE_CAP, &cap);
    return Vm(std::move(vm));
}

Result<void> Vm::set_memory_region(std::uint32_t slot, std::uint64_t guest_phys, std::uint64_t size,
                                   void* host, std::uint32_t flags) {
    kvm_userspace_memory_region region{};
    region.slot = slot;
    region.flags = flags;
    region.guest_phys_addr = guest_phys;
    region.memory_size = size;
    region.userspace_addr = reinterpret_cast<std::uint64_t>(host);
    if (::ioctl(fd(), KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return errno_error("KVM_SET_USER_MEMORY_REGION");
    return {};
}

static kvm_ioeventfd pio_eventfd(int eventfd, std::uint16_t port, std::uint32_t length,
                                 std::optional<std::uint64_t> match) {
    kvm_ioeventfd request{};
    request.addr = port;
    request.len = length;
    request.fd = eventfd;
    request.flags = KVM_IOEVENTFD_FLAG_PIO;
    if (match) {
        request.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
        request.datamatch = *match;
    }
    return request;
}

Result<void> Vm::add_pio_eventfd(int eventfd, std::uint16_t port, std::uint32_t length,
                                 std::optional<std::uint64_t> match) {
    auto request = pio_eventfd(eventfd, port, length, match);
    if (::ioctl(fd(), KVM_IOEVENTFD, &request) < 0) return errno_error("KVM_IOEVENTFD");
    return {};
}

Result<void> Vm::remove_pio_eventfd(int eventfd, std::uint16_t port, std::uint32_t length,
                                    std::optional<std::uint64_t> match) {
    auto request = pio_eventfd(eventfd, port, length, match);
    request.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
    if (::ioctl(fd(), KVM_IOEVENTFD, &request) < 0) return errno_error("KVM_IOEVENTFD deassign");
    return {};
}

Result<std::unique_ptr<Vcpu>> Vm::create_vcpu(const System& system, int index) {
    Fd vcpu_fd(::ioctl(fd(), KVM_CREATE_VCPU, index));
    if (!vcpu_fd) return errno_error(fmt::format("KVM_CREATE_VCPU {}", index));
    // With an in-kernel APIC, KVM parks every vCPU but the first until an INIT/SIPI that
    // a PV guest never sends: VCPUOP_up is the monitor's business.
    kvm_mp_state runnable{KVM_MP_STATE_RUNNABLE};
    if (::ioctl(vcpu_fd.get(), KVM_SET_MP_STATE, &runnable) < 0)
        return errno_error(fmt::format("KVM_SET_MP_STATE {}", index));
    void* run = ::mmap(nullptr, system.vcpu_mmap_size(), PROT_READ | PROT_WRITE, MAP_SHARED,
                       vcpu_fd.get(), 0);
    if (run == MAP_FAILED) return errno_error("mmap kvm_run");
    return std::unique_ptr<Vcpu>(
        new Vcpu(std::move(vcpu_fd), Mapping(run, system.vcpu_mmap_size()), index));
}

std::uint64_t Vm::tsc_khz() const noexcept {
    int khz = ::ioctl(fd(), KVM_GET_TSC_KHZ, 0);
    return khz > 0 ? std::uint64_t(khz) : 0;
}

int Vcpu::run() noexcept {
    return ::ioctl(fd(), KVM_RUN, 0);
}

Result<void> Vcpu::set_regs(const kvm_regs& regs) {
    if (::ioctl(fd(), KVM_SET_REGS, &regs) < 0) return errno_error("KVM_SET_REGS");
    return {};
}

Result<kvm_regs> Vcpu::get_regs() {
    kvm_regs regs{};
    if (::ioctl(fd(), KVM_GET_REGS, &regs) < 0) return errno_error("KVM_GET_REGS");
    return regs;
}

Result<void> Vcpu::set_sregs(const kvm_sregs& sregs) {
    if (::ioctl(fd(), KVM_SET_SREGS, &sregs) < 0) return errno_error("KVM_SET_SREGS");
    return {};
}

Result<kvm_sregs> Vcpu::get_sregs() {
    kvm_sregs sregs{};
    if (::ioctl(fd(), KVM_GET_SREGS, &sregs) < 0) return errno_error("KVM_GET_SREGS");
    return sregs;
}

Result<void> Vcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
    std::vector<std::byte> buffer(sizeof(CpuidHeader) + entries.size() * sizeof(kvm_cpuid_entry2));
    auto* header = reinterpret_cast<CpuidHeader*>(buffer.data());
    header->nent = std::uint32_t(entries.size());
    std::memcpy(buffer.data() + sizeof(CpuidHeader), entries.data(),
                entries.size() * sizeof(kvm_cpuid_entry2));
    if (::ioctl(fd(), kSetCpuid2, header) < 0) return errno_error("KVM_SET_CPUID2");
    return {};
}

Result<void> Vcpu::set_xcr0(std::uint64_t value) {
    kvm_xcrs xcrs{};
    xcrs.nr_xcrs = 1;
    xcrs.xcrs[0].xcr = 0;
    xcrs.xcrs[0].value = value;
    if (::ioctl(fd(), KVM_SET_XCRS, &xcrs) < 0) return errno_error("KVM_SET_XCRS");
    return {};
}

Result<void> Vcpu::set_fpu(const kvm_fpu& fpu) {
    if (::ioctl(fd(), KVM_SET_FPU, &fpu) < 0) return errno_error("KVM_SET_FPU");
    return {};
}

Result<std::vector<std::uint8_t>> Vcpu::get_xsave(std::size_t size) {
    std::vector<std::uint8_t> area(std::max<std::size_t>(size, 4096));
    unsigned long request = area.size() > 4096 ? kGetXsave2 : kGetXsave;
    if (::ioctl(fd(), request, area.data()) < 0) return errno_error("KVM_GET_XSAVE");
    return area;
}

Result<void> Vcpu::set_xsave(const std::vector<std::uint8_t>& area) {
    if (area.size() < 4096) return make_error("KVM_SET_XSAVE: area too small");
    if (::ioctl(fd(), kSetXsave, area.data()) < 0) return errno_error("KVM_SET_XSAVE");
    return {};
}

Result<kvm_xcrs> Vcpu::get_xcrs() {
    kvm_xcrs xcrs{};
    if (::ioctl(fd(), KVM_GET_XCRS, &xcrs) < 0) return errno_error("KVM_GET_XCRS");
    return xcrs;
}

Result<void> Vcpu::set_xcrs(const kvm_xcrs& xcrs) {
    if (::ioctl(fd(), KVM_SET_XCRS, &xcrs) < 0) return errno_error("KVM_SET_XCRS");
    return {};
}

Result<void> Vm::get_dirty_log(std::uint32_t slot, std::vector<std::uint64_t>& bitmap) {
    kvm_dirty_log log{};
    log.slot = slot;
    log.dirty_bitmap = bitmap.data();
    if (::ioctl(fd(), KVM_GET_DIRTY_LOG, &log) < 0) return errno_error("KVM_GET_DIRTY_LOG");
    return {};
}

}  // namespace domus::kvm
