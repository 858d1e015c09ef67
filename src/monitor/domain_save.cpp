// save_domain: the record writer of a save (see domain_save.hpp). Memory is walked
// through the memfd's data extents (SEEK_DATA), so frames the guest never touched or gave
// back are neither read (which would allocate them) nor sent.
#include "monitor/domain_save.hpp"

#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "monitor/domain.hpp"

namespace domus::monitor {
namespace {

enum VcpuBlob : std::uint32_t {
    kBlobRegs = 1,
    kBlobSregs = 2,
    kBlobXsave = 3,
    kBlobXcrs = 4,
    kBlobMonitor = 5,  // what the monitor keeps: MonitorVcpu below
};

struct MonitorVcpu {
    std::uint64_t up;
    std::uint64_t vcpu_info_gpa;
    std::uint64_t vcpu_info_registered;
    std::uint64_t upcall_entry;
    std::uint64_t timer_deadline_ns;
};

template <class T>
std::vector<std::uint8_t> blob(const T& value) {
    auto p = reinterpret_cast<const std::uint8_t*>(&value);
    return {p, p + sizeof(T)};
}

template <class T>
Result<void> unblob(const migration::VcpuState& state, std::uint32_t tag, T& out) {
    auto it = state.blobs.find(tag);
    if (it == state.blobs.end() || it->second.size() != sizeof(T))
        return make_error("vcpu_state of vCPU {}: blob {} missing or of the wrong size", state.id,
                          tag);
    std::memcpy(&out, it->second.data(), sizeof(T));
    return {};
}

bool all_zero(const std::byte* page) noexcept {
    const auto* words = reinterpret_cast<const std::uint64_t*>(page);
    std::uint64_t any = 0;
    for (std::size_t i = 0; i < kPageSize / 8; ++i)
        any |= words[i];
    return any == 0;
}

std::uint64_t realtime_ns() noexcept {
    timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return std::uint64_t(ts.tv_sec) * 1'000'000'000 + std::uint64_t(ts.tv_nsec);
}

}  // namespace

migration::VcpuState encode_vcpu(std::uint32_t id, const VcpuSnapshot& snapshot) {
    migration::VcpuState state;
    state.id = id;
    state.blobs[kBlobRegs] = blob(snapshot.regs);
    state.blobs[kBlobSregs] = blob(snapshot.sregs);
    state.blobs[kBlobXsave] = snapshot.xsave;
    state.blobs[kBlobXcrs] = blob(snapshot.xcrs);
    state.blobs[kBlobMonitor] =
        blob(MonitorVcpu{snapshot.up, snapshot.vcpu_info_gpa, snapshot.vcpu_info_registered,
                         snapshot.upcall_entry, snapshot.timer_deadline_ns});
    return state;
}

Result<VcpuSnapshot> decode_vcpu(const migration::VcpuState& state) {
    VcpuSnapshot snapshot;
    DOMUS_TRY_VOID(unblob(state, kBlobRegs, snapshot.regs));
    DOMUS_TRY_VOID(unblob(state, kBlobSregs, snapshot.sregs));
    DOMUS_TRY_VOID(unblob(state, kBlobXcrs, snapshot.xcrs));
    MonitorVcpu monitor{};
    DOMUS_TRY_VOID(unblob(state, kBlobMonitor, monitor));
    auto xsave = state.blobs.find(kBlobXsave);
    if (xsave == state.blobs.end() || xsave->second.size() < 4096)
        return make_error("vcpu_state of vCPU {}: no extended state", state.id);
    snapshot.xsave = xsave->second;
    if (snapshot.xcrs.nr_xcrs > KVM_MAX_XCRS)
        return make_error("vcpu_state of vCPU {}: {} XCRs", state.id, snapshot.xcrs.nr_xcrs);
    snapshot.up = monitor.up != 0;
    snapshot.vcpu_info_gpa = monitor.vcpu_info_gpa;
    snapshot.vcpu_info_registered = monitor.vcpu_info_registered != 0;
    snapshot.upcall_entry = monitor.upcall_entry;
    snapshot.timer_deadline_ns = monitor.timer_deadline_ns;
    return snapshot;
}

Result<SaveResult> save_domain(Domain& domain, int fd, const SaveRequest& request,
                               const ProgressFn& progress) {
    if (!domain.suspended()) return make_error("the domain is not suspended");
    auto started = std::chrono::steady_clock::now();
    migration::FdSink sink(fd);
    migration::StreamWriter writer(sink);
    SaveResult result;
    auto report = [&](const char* phase) {
        if (progress) progress({phase, writer.bytes(), result.pages});
    };

    DOMUS_TRY_VOID(writer.header(0));
    const auto& config = domain.config();
    migration::DomainInfo info;
    info.domid = config.domid;
    info.vcpus = domain.nr_vcpus();
    info.memory_mib = config.memory_mib;
    info.maxmem_mib = config.maxmem_mib;
    info.nr_pfns = domain.memory().size() / kPageSize;
    info.tsc_khz = domain.clock().tsc_khz();
    info.hypercall_page = domain.hypercall_page();
    DOMUS_TRY_VOID(writer.record(migration::RecordType::domain_info, migration::encode(info)));

    // Memory: the memfd's data extents only, in batches.
    auto& memory = domain.memory();
    std::vector<std::uint64_t> entries;
    std::vector<std::span<const std::uint8_t>> pages;
    std::vector<std::uint8_t> head;
    auto flush = [&]() -> Result<void> {
        if (entries.empty()) return {};
        auto pieces = migration::page_batch_pieces(head, entries, pages);
        DOMUS_TRY_VOID(writer.record(std::uint32_t(migration::RecordType::page_data), pieces));
        entries.clear();
        pages.clear();
        report("memory");
        return {};
    };
    off_t size = off_t(memory.size());
    for (off_t at = 0; at < size;) {
        off_t data = ::lseek(memory.fd(), at, SEEK_DATA);
        if (data < 0) break;  // ENXIO: no data beyond `at`
        off_t hole = ::lseek(memory.fd(), data, SEEK_HOLE);
        if (hole < 0) hole = size;
        for (off_t gpa = data & ~off_t(kPageSize - 1); gpa < hole; gpa += off_t(kPageSize)) {
            const std::byte* page = memory.base() + gpa;
            if (all_zero(page)) {
                ++result.zero_pages;
                continue;
            }
            entries.push_back(std::uint64_t(gpa) / kPageSize);
            pages.emplace_back(reinterpret_cast<const std::uint8_t*>(page), kPageSize);
            ++result.pages;
            if (entries.size() == migration::kMaxBatchPages) DOMUS_TRY_VOID(flush());
        }
        at = hole;
    }
    DOMUS_TRY_VOID(flush());

    for (std::uint32_t i = 0; i < domain.nr_vcpus(); ++i) {
        DOMUS_TRY(snapshot, domain.vcpu(i)->capture());
        // The vCPU that suspended sees 0 from SCHEDOP_shutdown where it is restored (1
        // where it is resumed in place: a cancelled suspend).
        if (i == domain.suspended_vcpu()) snapshot.regs.rax = 0;
        DOMUS_TRY_VOID(writer.record(migration::RecordType::vcpu_state,
                                     migration::encode(encode_vcpu(i, snapshot))));
    }
    report("vcpus");
    auto shared = memory.range(domain.layout().shared_info, kPageSize);
    if (!shared) return make_error("shared info outside guest memory");
    DOMUS_TRY_VOID(
        writer.record(migration::RecordType::shared_info,
                      {reinterpret_cast<const std::uint8_t*>(shared->data()), kPageSize}));
    std::uint64_t wall = realtime_ns();
    migration::GuestClockState clock{domain.clock().now_ns(), std::int64_t(wall / 1'000'000'000),
                                     std::uint32_t(wall % 1'000'000'000)};
    DOMUS_TRY_VOID(writer.record(migration::RecordType::guest_clock, migration::encode(clock)));
    DOMUS_TRY_VOID(
        writer.record(migration::RecordType::store_subtree, migration::encode(request.store)));
    DOMUS_TRY_VOID(writer.record(migration::RecordType::xl_config,
                                 {reinterpret_cast<const std::uint8_t*>(request.xl_config.data()),
                                  request.xl_config.size()}));
    DOMUS_TRY_VOID(writer.end());
    report("done");
    result.bytes = writer.bytes();
    result.milliseconds = std::uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - started)
                                            .count());
    return result;
}

}  // namespace domus::monitor
