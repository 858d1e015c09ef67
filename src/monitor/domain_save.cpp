// save_domain: the record writer of a save (see domain_save.hpp). Memory is walked
// through the memfd's data extents (SEEK_DATA), so frames the guest never touched or gave
// back are neither read (which would allocate them) nor sent.
#include "monitor/domain_save.hpp"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "monitor/domain.hpp"

namespace domus::monitor {
namespace {

enum VcpuBlob : std::uint32_t {
    kBlobRegs = 1,
    kBlobSregs = 2,
    kBlobXsave = 3,
    kBlobXcrs = 4,
    kBlobMonitor = 5,      // what the monitor keeps: MonitorVcpu below
    kBlobInitialised = 6,  // u64: VCPUOP_initialise done (absent in older images: `up`)
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

// Ballooning: which frames the guest holds and its maximum, so the destination keeps the
// frames it gave back unpopulated (and may give them to it again). Optional: an older
// reader skips it and starts its accounting afresh.
Result<void> write_physmap(migration::StreamWriter& writer, Domain& domain) {
    migration::PhysmapState physmap{domain.memory().size() / kPageSize,
                                    domain.reservation().maximum_frames(),
                                    domain.reservation().populated_bits()};
    auto body = migration::encode(physmap);
    std::span<const std::uint8_t> pieces[] = {body};
    return writer.record(std::uint32_t(migration::RecordType::physmap) | migration::kOptionalRecord,
                         pieces);
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
    state.blobs[kBlobInitialised] = blob(std::uint64_t(snapshot.initialised));
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
    std::uint64_t initialised = snapshot.up;
    if (state.blobs.count(kBlobInitialised))
        DOMUS_TRY_VOID(unblob(state, kBlobInitialised, initialised));
    snapshot.initialised = initialised != 0;
    return snapshot;
}

namespace {

// Batches of pages into page_data records, paced to the rate limit.
class PageSender {
public:
    PageSender(migration::StreamWriter& writer, GuestMemory& memory, std::uint64_t rate,
               SaveResult& result)
        : writer_(writer), memory_(memory), rate_(rate), result_(result) {}

    // Frame `pfn`: its data, or an entry saying it is zero (`zero_entry`: a frame sent
    // before may have become zero; else zero frames are left out, the destination's
    // memory starting zeroed).
    Result<void> add(std::uint64_t pfn, bool zero_entry) {
        // A copy: a running guest may change the page between the checksum and the write.
        std::uint8_t* copy = buffer_.data() + pages_.size() * kPageSize;
        std::memcpy(copy, memory_.base() + pfn * kPageSize, kPageSize);
        if (all_zero(reinterpret_cast<const std::byte*>(copy))) {
            ++result_.zero_pages;
            if (!zero_entry) return {};
            entries_.push_back(pfn | migration::kZeroPage);
        } else {
            entries_.push_back(pfn);
            pages_.emplace_back(copy, kPageSize);
            ++result_.pages;
        }
        if (entries_.size() == migration::kMaxBatchPages) return flush();
        return {};
    }

    Result<void> flush() {
        if (entries_.empty()) return {};
        auto pieces = migration::page_batch_pieces(head_, entries_, pages_);
        DOMUS_TRY_VOID(writer_.record(std::uint32_t(migration::RecordType::page_data), pieces));
        entries_.clear();
        pages_.clear();
        if (rate_) {  // --rate: sleep until the bytes so far fit the limit
            auto due = started_ + std::chrono::microseconds(writer_.bytes() * 1'000'000 / rate_);
            std::this_thread::sleep_until(due);
        }
        if (on_batch) on_batch();
        return {};
    }

    std::function<void()> on_batch;  // after each batch written

private:
    migration::StreamWriter& writer_;
    GuestMemory& memory_;
    std::uint64_t rate_;
    SaveResult& result_;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    std::vector<std::uint64_t> entries_;
    std::vector<std::span<const std::uint8_t>> pages_;
    std::vector<std::uint8_t> head_;
    std::vector<std::uint8_t> buffer_ =
        std::vector<std::uint8_t>(migration::kMaxBatchPages * kPageSize);
};

// Every frame of the memfd's data extents (never read, which would allocate them, nor
// sent: frames the guest never touched or gave back).
Result<void> send_all(PageSender& sender, GuestMemory& memory) {
    off_t size = off_t(memory.size());
    for (off_t at = 0; at < size;) {
        off_t data = ::lseek(memory.fd(), at, SEEK_DATA);
        if (data < 0) break;  // ENXIO: no data beyond `at`
        off_t hole = ::lseek(memory.fd(), data, SEEK_HOLE);
        if (hole < 0) hole = size;
        for (off_t gpa = data & ~off_t(kPageSize - 1); gpa < hole; gpa += off_t(kPageSize))
            DOMUS_TRY_VOID(sender.add(std::uint64_t(gpa) / kPageSize, false));
        at = hole;
    }
    return sender.flush();
}

// Auto-converge (as QEMU's): the vCPUs paused for `percent` of every 20 ms while the
// dirty rate outruns the link. Stopped before the domain is asked to suspend.
class Throttle {
public:
    explicit Throttle(Domain& domain) : domain_(domain) {}
    ~Throttle() { stop(); }
    void set(unsigned percent) {
        percent_.store(percent);
        if (percent && !thread_.joinable()) thread_ = std::thread([this] { run(); });
    }
    unsigned percent() const { return percent_.load(); }
    void stop() {
        done_.store(true);
        if (thread_.joinable()) thread_.join();
    }

private:
    void run() {
        using namespace std::chrono;
        while (!done_.load()) {
            unsigned p = percent_.load();
            if (p) domain_.pause();
            std::this_thread::sleep_for(microseconds(200 * p));
            if (p) domain_.unpause();
            std::this_thread::sleep_for(microseconds(200 * (100 - p)));
        }
    }
    Domain& domain_;
    std::atomic<unsigned> percent_{0};
    std::atomic<bool> done_{false};
    std::thread thread_;
};

// Dirty logging of guest memory (KVM_MEM_LOG_DIRTY_PAGES on its slot) and of the
// backends' writes, on for the pre-copy and off again whatever happens.
class DirtyTracking {
public:
    static Result<std::unique_ptr<DirtyTracking>> start(Domain& domain) {
        auto& memory = domain.memory();
        DOMUS_TRY_VOID(domain.vm().set_memory_region(0, 0, memory.size(), memory.base(),
                                                     KVM_MEM_LOG_DIRTY_PAGES));
        std::unique_ptr<DirtyTracking> tracking(new DirtyTracking(domain));
        domain.grants().track_writes(true);
        return tracking;
    }
    ~DirtyTracking() {
        domain_.grants().track_writes(false);
        auto& memory = domain_.memory();
        (void)domain_.vm().set_memory_region(0, 0, memory.size(), memory.base(), 0);
    }
    // The frames written since the last call, in order, each once.
    Result<std::vector<std::uint64_t>> take() {
        std::fill(bitmap_.begin(), bitmap_.end(), 0);
        DOMUS_TRY_VOID(domain_.vm().get_dirty_log(0, bitmap_));
        for (std::uint64_t gfn : domain_.grants().written_frames())
            if (gfn < nr_pfns_) bitmap_[gfn / 64] |= 1ull << (gfn % 64);
        std::vector<std::uint64_t> frames;
        for (std::size_t w = 0; w < bitmap_.size(); ++w)
            for (std::uint64_t bits = bitmap_[w]; bits; bits &= bits - 1)
                frames.push_back(w * 64 + std::uint64_t(__builtin_ctzll(bits)));
        return frames;
    }

private:
    explicit DirtyTracking(Domain& domain)
        : domain_(domain),
          nr_pfns_(domain.memory().size() / kPageSize),
          bitmap_((nr_pfns_ + 63) / 64) {}
    Domain& domain_;
    std::uint64_t nr_pfns_;
    std::vector<std::uint64_t> bitmap_;
};

std::uint64_t ms_since(std::chrono::steady_clock::time_point t) {
    return std::uint64_t(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t)
            .count());
}

}  // namespace

Result<SaveResult> save_domain(Domain& domain, int fd, const SaveRequest& request,
                               const ProgressFn& progress) {
    const bool live = request.live.enabled;
    if (!live && !domain.suspended()) return make_error("the domain is not suspended");
    if (live && domain.suspended()) return make_error("a live save starts with the domain running");
    auto started = std::chrono::steady_clock::now();
    migration::FdSink sink(fd);
    migration::StreamWriter writer(sink);
    SaveResult result;
    auto report = [&](const char* phase, std::uint64_t dirty = 0, std::uint64_t expected = 0,
                      unsigned throttle = 0) {
        if (progress)
            progress(
                {phase, writer.bytes(), result.pages, result.rounds, dirty, expected, throttle});
    };

    DOMUS_TRY_VOID(writer.header(live ? migration::kFlagLive : 0));
    // The configuration first: a destination creates the domain (devices, vif hotplug)
    // from it while the memory is still coming (docs/migration-stream.md).
    DOMUS_TRY_VOID(writer.record(migration::RecordType::xl_config,
                                 {reinterpret_cast<const std::uint8_t*>(request.xl_config.data()),
                                  request.xl_config.size()}));
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

    auto& memory = domain.memory();
    PageSender sender(writer, memory, request.live.rate_bytes_per_second, result);
    // Between the phases, a "copying" event every 200 ms at most (a line that moves).
    auto last_copying = std::chrono::steady_clock::now();
    sender.on_batch = [&] {
        auto now = std::chrono::steady_clock::now();
        if (now - last_copying < std::chrono::milliseconds(200)) return;
        last_copying = now;
        report("copying");
    };
    std::unique_ptr<DirtyTracking> tracking;
    if (live) {
        // Pre-copy: everything once while the guest runs, then what it dirtied meanwhile,
        // round after round, until the rest fits the downtime target (at the link's
        // measured speed) or the rounds run out; the dirty rate outrunning the link
        // slows the vCPUs down step by step.
        DOMUS_TRY(started_tracking, DirtyTracking::start(domain));
        tracking = std::move(started_tracking);
        DOMUS_TRY(cleared, tracking->take());
        (void)cleared;
        Throttle throttle(domain);
        auto round_start = std::chrono::steady_clock::now();
        std::uint64_t bytes_before = writer.bytes();
        DOMUS_TRY_VOID(send_all(sender, memory));
        std::uint64_t previous_dirty = ~0ull;
        for (;;) {
            ++result.rounds;
            double seconds = std::max(
                1e-4, std::chrono::duration<double>(std::chrono::steady_clock::now() - round_start)
                          .count());
            double bandwidth = double(writer.bytes() - bytes_before) / seconds;  // bytes/s
            DOMUS_TRY(dirty, tracking->take());
            std::uint64_t expected_ms =
                std::uint64_t(double(dirty.size() * kPageSize) / std::max(bandwidth, 1e6) * 1000);
            result.expected_downtime_ms = expected_ms;
            report("live", dirty.size(), expected_ms, throttle.percent());
            if (expected_ms <= request.live.max_downtime_ms ||
                result.rounds >= request.live.max_rounds) {
                // The rest goes in the final round: back into the log.
                result.final_dirty = dirty;
                break;
            }
            if (result.rounds >= 2 && dirty.size() * 10 > previous_dirty * 8)
                throttle.set(std::min(99u, throttle.percent() ? throttle.percent() + 10 : 20));
            previous_dirty = dirty.size();
            round_start = std::chrono::steady_clock::now();
            bytes_before = writer.bytes();
            for (std::uint64_t pfn : dirty)
                DOMUS_TRY_VOID(sender.add(pfn, true));
            DOMUS_TRY_VOID(sender.flush());
        }
        result.throttle_percent = throttle.percent();
        throttle.stop();
        report("suspending");
        if (!request.suspend) return make_error("a live save needs a way to suspend the domain");
        DOMUS_TRY_VOID(request.suspend());
    }
    auto paused = std::chrono::steady_clock::now();
    if (live) {
        // Stop-and-copy: what is still dirty, and what the monitor itself writes outside
        // grants (the monitor area: rings, shared info; every vcpu_info).
        DOMUS_TRY(dirty, tracking->take());
        for (std::uint64_t pfn : dirty)
            result.final_dirty.push_back(pfn);
        for (std::uint64_t gpa = domain.layout().monitor_area; gpa < memory.size();
             gpa += kPageSize)
            result.final_dirty.push_back(gpa / kPageSize);
        for (std::uint32_t i = 0; i < domain.nr_vcpus(); ++i)
            if (std::uint64_t gpa = domain.vcpu(i)->vcpu_info_gpa())
                result.final_dirty.push_back(gpa / kPageSize);
        std::sort(result.final_dirty.begin(), result.final_dirty.end());
        result.final_dirty.erase(std::unique(result.final_dirty.begin(), result.final_dirty.end()),
                                 result.final_dirty.end());
        for (std::uint64_t pfn : result.final_dirty)
            if (pfn < info.nr_pfns) DOMUS_TRY_VOID(sender.add(pfn, true));
        DOMUS_TRY_VOID(sender.flush());
        tracking.reset();
    } else {
        DOMUS_TRY_VOID(send_all(sender, memory));
    }
    report("memory");

    for (std::uint32_t i = 0; i < domain.nr_vcpus(); ++i) {
        DOMUS_TRY(snapshot, domain.vcpu(i)->capture());
        // The vCPU that suspended sees 0 from SCHEDOP_shutdown where it is restored (1
        // where it is resumed in place: a cancelled suspend).
        if (i == domain.suspended_vcpu()) snapshot.regs.rax = 0;
        DOMUS_TRY_VOID(writer.record(migration::RecordType::vcpu_state,
                                     migration::encode(encode_vcpu(i, snapshot))));
    }
    report("vcpus");
    DOMUS_TRY_VOID(write_physmap(writer, domain));
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
    DOMUS_TRY_VOID(writer.end());
    report("done");
    result.bytes = writer.bytes();
    result.final_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - paused)
            .count();
    result.milliseconds = ms_since(started);
    result.final_dirty.clear();
    return result;
}

}  // namespace domus::monitor
