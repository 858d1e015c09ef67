// RAII wrapper of the KVM API: the system (/dev/kvm), a VM and its vCPUs.
// Knows nothing of the Domus ABI; every call returns Result with the ioctl named.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/fd.hpp"
#include "base/mapping.hpp"
#include "base/result.hpp"

namespace domus::kvm {

// The xsave requests with a 4096-byte area: <asm/kvm.h>'s struct kvm_xsave ends in a
// flexible array, which C++ sizes differently, giving _IOR/_IOW the wrong length.
inline constexpr unsigned long kGetXsave = _IOR(KVMIO, 0xa4, char[4096]);
inline constexpr unsigned long kSetXsave = _IOW(KVMIO, 0xa5, char[4096]);
inline constexpr unsigned long kGetXsave2 = _IOR(KVMIO, 0xcf, char[4096]);

class Vcpu;

// The most CPUID entries the supported-CPUID query takes (and its cache keeps).
inline constexpr std::size_t kMaxCpuidEntries = 256;

// An open /dev/kvm with the facts the monitor needs about it.
class System {
public:
    // `cpuid_cache`: a file that keeps supported_cpuid() between starts
    // (kvm/cpuid_cache.hpp); empty: KVM is asked each time.
    static Result<System> open(const char* path = "/dev/kvm", const std::string& cpuid_cache = {});

    int fd() const noexcept { return fd_.get(); }
    std::size_t vcpu_mmap_size() const noexcept { return vcpu_mmap_size_; }
    int check_extension(long capability) const noexcept;
    // CPUID entries KVM can offer a guest (KVM_GET_SUPPORTED_CPUID), cached.
    const std::vector<kvm_cpuid_entry2>& supported_cpuid() const noexcept { return cpuid_; }

private:
    Fd fd_;
    std::size_t vcpu_mmap_size_ = 0;
    std::vector<kvm_cpuid_entry2> cpuid_;
};

class Vm {
public:
    static Result<Vm> create(const System& system);

    int fd() const noexcept { return fd_.get(); }
    Result<void> set_memory_region(std::uint32_t slot, std::uint64_t guest_phys, std::uint64_t size,
                                   void* host, std::uint32_t flags = 0);
    // Registers an eventfd signalled by a guest port write of `length` bytes; with
    // `match`, only when the written value equals it (KVM_IOEVENTFD_FLAG_DATAMATCH).
    Result<void> add_pio_eventfd(int eventfd, std::uint16_t port, std::uint32_t length,
                                 std::optional<std::uint64_t> match);
    Result<void> remove_pio_eventfd(int eventfd, std::uint16_t port, std::uint32_t length,
                                    std::optional<std::uint64_t> match);
    Result<std::unique_ptr<Vcpu>> create_vcpu(const System& system, int index);
    // Dirty-page logging of a memory slot (migration): the bitmap of the pages written
    // since the last call, one bit per page, cleared as it is read (KVM_GET_DIRTY_LOG
    // without manual protection).
    Result<void> get_dirty_log(std::uint32_t slot, std::vector<std::uint64_t>& bitmap);
    // The guest TSC frequency (KVM_GET_TSC_KHZ on the VM), or 0 when KVM cannot tell.
    std::uint64_t tsc_khz() const noexcept;

private:
    explicit Vm(Fd fd) : fd_(std::move(fd)) {}
    Fd fd_;
};

// One vCPU: its fd and the shared kvm_run page. Registers travel through kvm_run's
// sync_regs (one ioctl fewer per exit); only the owning vCPU thread may call run().
class Vcpu {
public:
    int fd() const noexcept { return fd_.get(); }
    int index() const noexcept { return index_; }
    kvm_run* run_state() const noexcept { return reinterpret_cast<kvm_run*>(run_.data()); }

    // KVM_RUN; returns -1 with errno (EINTR after a kick) or 0.
    int run() noexcept;

    kvm_regs& regs() noexcept { return run_state()->s.regs.regs; }
    kvm_sregs& sregs() noexcept { return run_state()->s.regs.sregs; }
    // Marks regs (or sregs) as changed so the next run() loads them.
    void mark_regs_dirty() noexcept { run_state()->kvm_dirty_regs |= KVM_SYNC_X86_REGS; }
    void mark_sregs_dirty() noexcept { run_state()->kvm_dirty_regs |= KVM_SYNC_X86_SREGS; }

    Result<void> set_regs(const kvm_regs& regs);
    Result<kvm_regs> get_regs();
    Result<void> set_sregs(const kvm_sregs& sregs);
    Result<kvm_sregs> get_sregs();
    Result<void> set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
    Result<void> set_xcr0(std::uint64_t value);
    Result<void> set_fpu(const kvm_fpu& fpu);
    // The extended state (KVM_GET_XSAVE2 when `size` > 4096, else KVM_GET_XSAVE) and
    // the XCRs, for save and restore.
    Result<std::vector<std::uint8_t>> get_xsave(std::size_t size);
    Result<void> set_xsave(const std::vector<std::uint8_t>& area);
    Result<kvm_xcrs> get_xcrs();
    Result<void> set_xcrs(const kvm_xcrs& xcrs);

private:
    friend class Vm;
    Vcpu(Fd fd, Mapping run, int index) : fd_(std::move(fd)), run_(std::move(run)), index_(index) {}
    Fd fd_;
    Mapping run_;
    int index_;
};

}  // namespace domus::kvm
