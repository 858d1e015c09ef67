// domus-backend-bench: the PV block backend alone, without a VM, so that its own cost
// per request is known (and measurable on a host without /dev/kvm). A thread plays the
// guest as blkfront does: grant entries in its own memory, the blkif ring, 32 requests
// in flight, each request's pages granted before it is pushed and revoked after its
// response, a doorbell only when req_event asks for one. The backend is the monitor's
// own GrantTable and BlkBack on a raw file in the page cache, driven the way VbdDevice
// drives it (doorbell eventfd, io_uring completion fd). What a domain adds on top
// (exits, upcalls, the guest's own work) is the difference to domus-bench's blk_ figures.
//
// Figures, each with `_vs_host` (the same pattern by one host thread, measured here):
// blkback_seq_read_mib_s, blkback_seq_write_mib_s (128 KiB indirect requests),
// blkback_rand4k_read_qd32_iops; blkback_grant_maps_per_mib. The same again for qcow2
// (blkback_qcow2_*) and for raw with O_DIRECT against host O_DIRECT (blkback_direct_*).
#include <poll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include "../figures.hpp"
#include "../host_io.hpp"
#include "backends/block/blkback.hpp"
#include "base/fd.hpp"
#include "monitor/grant_table.hpp"
#include "monitor/granted_pages.hpp"
#include "monitor/guest_memory.hpp"
#include "storage/block_image.hpp"
#include "storage/image_create.hpp"

namespace {

using namespace domus;
using bench::emit;
using bench::group_wanted;
using bench::wanted;

constexpr domid_t kGuest = 1;
constexpr domid_t kBackendDomain = 0;
constexpr std::uint64_t kPage = 4096;
constexpr std::uint32_t kQueueDepth = 32;  // = the one-page ring
constexpr std::uint32_t kSegments = 32;    // 128 KiB per sequential request
// Guest-physical layout of the simulated guest.
constexpr std::uint64_t kGuard = 1ull << 20;
constexpr std::uint64_t kFrameList = kGuard;  // xen_pfn_t[kTableFrames]
constexpr std::uint64_t kTable = kGuard + kPage;
constexpr std::uint32_t kTableFrames = 4;  // 2048 entries; a request uses 1 + kSegments
constexpr std::uint64_t kRing = 2ull << 20;
constexpr std::uint64_t kIndirect = kRing + kPage;  // one segment page per slot
constexpr std::uint64_t kData = 4ull << 20;         // kSegments pages per slot
constexpr std::uint64_t kMemory = kData + kQueueDepth * kSegments * kPage;
constexpr std::uint64_t kDiskBytes = 256ull << 20;

void die(const std::string& what) {
    std::fprintf(stderr, "domus-backend-bench: %s\n", what.c_str());
    std::exit(1);
}

// The monitor side of the device: grants mapped through the guest's table (as
// DeviceHost::map_grants does); no notifications (the frontend polls).
class Host final : public backends::DataPathHost {
public:
    explicit Host(monitor::GrantTable& grants) : grants_(grants) {}
    Result<void> map_grants(std::span<const grant_ref_t> refs, bool writable,
                            std::unique_ptr<backends::MappedPages>& pages) override {
        return monitor::GrantedPages::map(grants_, kBackendDomain, refs, writable, pages);
    }
    void notify_frontend() override {}  // the simulated frontend polls its ring

private:
    monitor::GrantTable& grants_;
};

// The guest's half: its memory, grant entries and the front end of the ring.
class Guest {
public:
    Guest()
        : memory_(monitor::GuestMemory::create(kMemory, kGuard).value()),
          grants_(memory_, kGuest, kGuard, kMemory) {
        for (std::uint32_t i = 0; i < kTableFrames; ++i)
            (void)memory_.write<xen_pfn_t>(kFrameList + i * 8, kTable / kPage + i);
        if (grants_.set_table(kFrameList, kTableFrames) != GNTST_okay) die("set_table refused");
        // The guest's buffers are in use before the benchmark, as blk_tool's are: a
        // domain's first touch of a page also maps it into the monitor (KVM faults guest
        // memory in through the monitor's mapping), and a first touch here costs ~10 us.
        std::memset(memory_.range(kData, kMemory - kData)->data(), 0x3c, kMemory - kData);
        new_ring();
    }

    // A fresh ring for a fresh backend (SHARED_RING_INIT and FRONT_RING_INIT).
    void new_ring() {
        std::memset(ring_area().data(), 0, kPage);
        header()->req_event = header()->rsp_event = 1;
        req_prod_pvt_ = rsp_cons_ = 0;
    }

    monitor::GrantTable& grants() { return grants_; }
    std::span<std::byte> ring_area() { return *memory_.range(kRing, kPage); }

    // Puts slot's request for `pages` pages at `sector` on the ring (not yet pushed).
    void queue(std::uint32_t slot, bool write, std::uint64_t sector, std::uint32_t pages) {
        auto* entry = entries() + (req_prod_pvt_ & (kQueueDepth - 1));
        blkif_request_segment segments[kSegments];
        for (std::uint32_t i = 0; i < pages; ++i) {
            grant_ref_t ref = data_ref(slot, i);
            grant(ref, (kData / kPage) + slot * kSegments + i, write);
            segments[i] = {ref, 0, 7, {}};
        }
        if (pages <= BLKIF_MAX_SEGMENTS_PER_REQUEST) {
            blkif_request r{};
            r.operation = write ? BLKIF_OP_WRITE : BLKIF_OP_READ;
            r.nr_segments = std::uint8_t(pages);
            r.id = slot;
            r.sector_number = sector;
            std::memcpy(r.seg, segments, pages * sizeof segments[0]);
            std::memcpy(&entry->req, &r, sizeof r);
        } else {
            std::memcpy(memory_.range(kIndirect + slot * kPage, kPage)->data(), segments,
                        pages * sizeof segments[0]);
            grant(indirect_ref(slot), kIndirect / kPage + slot, true);
            blkif_request_indirect r{};
            r.operation = BLKIF_OP_INDIRECT;
            r.indirect_op = write ? BLKIF_OP_WRITE : BLKIF_OP_READ;
            r.nr_segments = std::uint16_t(pages);
            r.id = slot;
            r.sector_number = sector;
            r.indirect_grefs[0] = indirect_ref(slot);
            std::memcpy(entry, &r, sizeof r);
        }
        pages_[slot] = pages;
        ++req_prod_pvt_;
    }

    // Publishes what was queued; true if the backend asked to be woken (PV ABI 3.5).
    bool push() {
        RING_IDX old = header()->req_prod, now = req_prod_pvt_;
        std::atomic_ref<RING_IDX>(header()->req_prod).store(now, std::memory_order_release);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        RING_IDX event = std::atomic_ref<RING_IDX>(header()->req_event).load();
        return RING_IDX(now - event) < RING_IDX(now - old);
    }

    // The next response's slot, its grants revoked, or -1 when none is there yet.
    int collect() {
        RING_IDX prod =
            std::atomic_ref<RING_IDX>(header()->rsp_prod).load(std::memory_order_acquire);
        if (prod == rsp_cons_) return -1;
        blkif_response rsp = entries()[rsp_cons_++ & (kQueueDepth - 1)].rsp;
        if (rsp.status != BLKIF_RSP_OKAY) die("error response for slot " + std::to_string(rsp.id));
        auto slot = std::uint32_t(rsp.id);
        for (std::uint32_t i = 0; i < pages_[slot]; ++i)
            revoke(data_ref(slot, i));
        if (pages_[slot] > BLKIF_MAX_SEGMENTS_PER_REQUEST) revoke(indirect_ref(slot));
        return int(slot);
    }

private:
    ring_sring_header* header() { return memory_.object<ring_sring_header>(kRing); }
    blkif_sring_entry* entries() {
        return reinterpret_cast<blkif_sring_entry*>(memory_.range(kRing + 64, 1)->data());
    }
    static grant_ref_t indirect_ref(std::uint32_t slot) { return 8 + slot * (kSegments + 1); }
    static grant_ref_t data_ref(std::uint32_t slot, std::uint32_t i) {
        return indirect_ref(slot) + 1 + i;
    }
    grant_entry_v1& entry(grant_ref_t ref) {
        return *memory_.object<grant_entry_v1>(kTable + std::uint64_t(ref) * 8);
    }
    // As a guest grants: domid and frame, then the flags that make the entry valid.
    void grant(grant_ref_t ref, std::uint64_t gfn, bool readonly) {
        entry(ref).domid = kBackendDomain;
        entry(ref).frame = std::uint32_t(gfn);
        std::atomic_ref<std::uint16_t>(entry(ref).flags)
            .store(std::uint16_t(GTF_permit_access | (readonly ? GTF_readonly : 0)),
                   std::memory_order_release);
    }
    // As a guest revokes: clear the flags unless the backend still uses the page.
    void revoke(grant_ref_t ref) {
        std::atomic_ref<std::uint16_t> flags(entry(ref).flags);
        for (;;) {
            std::uint16_t now = flags.load();
            if (now & (GTF_reading | GTF_writing)) die("grant still in use after its response");
            if (flags.compare_exchange_strong(now, 0)) return;
        }
    }

    monitor::GuestMemory memory_;
    monitor::GrantTable grants_;
    RING_IDX req_prod_pvt_ = 0;
    RING_IDX rsp_cons_ = 0;
    std::uint32_t pages_[kQueueDepth] = {};
};

struct Pattern {
    bool write;
    bool random;
    std::uint32_t pages;  // per request
    std::uint64_t bytes;  // sequential: the whole pass; random: the area
};

struct Outcome {
    double per_second;  // MiB/s or requests/s
    double grant_maps_per_mib;
};

// One run of `pattern` through a fresh backend on `image`.
Outcome run(Guest& guest, storage::BlockImage& image, const Pattern& pattern) {
    guest.new_ring();
    std::uint64_t maps_before = guest.grants().stats().maps;
    Host host(guest.grants());
    backends::BlkBack back(host, image, guest.ring_area(),
                           {kDiskBytes / 512, false, false, kSegments});
    Fd doorbell(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    Fd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    auto ring = [](int fd) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(fd, &one, sizeof one);
    };

    std::thread backend([&] {
        for (;;) {
            pollfd fds[3] = {{doorbell.get(), POLLIN, 0},
                             {back.completion_fd(), POLLIN, 0},
                             {stop.get(), POLLIN, 0}};
            if (::poll(fds, 3, -1) < 0) continue;
            if (fds[2].revents) return;
            if (fds[0].revents & POLLIN) {
                std::uint64_t value;
                [[maybe_unused]] auto n = ::read(doorbell.get(), &value, sizeof value);
                if (!back.process()) die("backend: ring broken");
            }
            if ((fds[1].revents & POLLIN) && !back.complete()) die("backend: ring broken");
        }
    });

    std::uint64_t request_bytes = pattern.pages * kPage;
    std::uint64_t blocks = pattern.bytes / request_bytes, next = 0, done = 0;
    std::mt19937_64 rng(1);
    auto sector_of = [&] {
        return (pattern.random ? rng() % blocks : next++ % blocks) * (request_bytes / 512);
    };
    auto start = std::chrono::steady_clock::now();
    auto deadline = start + std::chrono::seconds(2);
    auto more = [&](std::uint64_t issued) {
        return pattern.random ? std::chrono::steady_clock::now() < deadline : issued < blocks;
    };
    std::uint64_t issued = 0;
    for (std::uint32_t slot = 0; slot < kQueueDepth && more(issued); ++slot, ++issued)
        guest.queue(slot, pattern.write, sector_of(), pattern.pages);
    if (guest.push()) ring(doorbell.get());
    while (done < issued) {
        int slot = guest.collect();
        if (slot < 0) {
            __builtin_ia32_pause();
            continue;
        }
        ++done;
        if (more(issued)) {
            guest.queue(std::uint32_t(slot), pattern.write, sector_of(), pattern.pages);
            ++issued;
            if (guest.push()) ring(doorbell.get());
        }
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ring(stop.get());
    backend.join();
    double mib = double(done * request_bytes) / (1 << 20);
    double maps = double(guest.grants().stats().maps - maps_before);
    return {pattern.random ? double(done) / seconds : mib / seconds, maps / mib};
}

// Best of `runs` (a sequential pass is short; noise only ever slows it).
Outcome best(Guest& guest, storage::BlockImage& image, const Pattern& pattern, int runs = 3) {
    Outcome out{0, 0};
    for (int i = 0; i < runs; ++i)
        if (auto o = run(guest, image, pattern); o.per_second > out.per_second) out = o;
    return out;
}

// The figures of one image format, named `prefix`_..., against the host's own I/O on
// the raw file `host_path` (the same bytes, read or written by one host thread).
void measure(Guest& guest, const std::string& prefix, const std::string& path,
             storage::Format format, const std::string& host_path, bool direct = false) {
    auto wanted_here = [&](const char* figure) { return group_wanted(prefix + figure); };
    if (!wanted_here("_seq_read") && !wanted_here("_seq_write") && !wanted_here("_rand4k") &&
        !wanted_here("_grant_maps"))
        return;
    if (!storage::create_image(path, kDiskBytes, format)) die("cannot create " + path);
    auto image = storage::open_image(path, format, false, direct);
    if (!image) {
        std::fprintf(stderr, "domus-backend-bench: %s: %s\n", prefix.c_str(),
                     image.error().message.c_str());
        return;  // O_DIRECT where the file system cannot: no figures, not a failure
    }
    // The image is filled first (qcow2: its clusters allocated in order), so every read
    // finds data, and in the page cache.
    if (auto fill = run(guest, **image, {true, false, kSegments, kDiskBytes}); fill.per_second <= 0)
        die("cannot fill " + path);
    auto host_best = [&](bool write) {
        double top = 0;
        for (int i = 0; i < 3; ++i)
            top = std::max(top, bench::host_io(host_path, write, false, kSegments * kPage,
                                               kDiskBytes, kQueueDepth, direct));
        return top;
    };
    if (wanted_here("_seq_read") || wanted_here("_grant_maps")) {
        auto read = best(guest, **image, {false, false, kSegments, kDiskBytes});
        double host = host_best(false);
        emit(prefix + "_seq_read_mib_s", read.per_second, "MiB/s");
        emit(prefix + "_seq_read_mib_s_vs_host", read.per_second / host, "ratio");
        emit(prefix + "_grant_maps_per_mib", read.grant_maps_per_mib, "maps/MiB");
    }
    if (wanted_here("_seq_write")) {
        auto write = best(guest, **image, {true, false, kSegments, kDiskBytes});
        double host = host_best(true);
        emit(prefix + "_seq_write_mib_s", write.per_second, "MiB/s");
        emit(prefix + "_seq_write_mib_s_vs_host", write.per_second / host, "ratio");
    }
    if (wanted_here("_rand4k")) {
        auto rand = run(guest, **image, {false, true, 1, kDiskBytes});
        double host = bench::host_io(host_path, false, true, kPage, kDiskBytes, 1, direct);
        emit(prefix + "_rand4k_read_qd32_iops", rand.per_second, "IOPS");
        emit(prefix + "_rand4k_read_qd32_iops_vs_host", rand.per_second / host, "ratio");
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1) domus::bench::figure_filter() = argv[1];
    if (!group_wanted("blkback_")) return 0;
    std::string dir = "/tmp/domus-backend-bench-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    Guest guest;
    std::string raw = dir + "/disk.img";
    // raw: the asynchronous engine (inline preadv2/pwritev2, io_uring); qcow2: the
    // synchronous one (cluster lookups, then preadv/pwritev straight into the pages).
    measure(guest, "blkback", raw, storage::Format::raw, raw);
    if (!std::filesystem::exists(raw)) {  // the qcow2 figures alone: a host file to compare
        if (!storage::create_image(raw, kDiskBytes, storage::Format::raw)) die("cannot create");
        bench::host_io(raw, true, false, kSegments * kPage, kDiskBytes);
    }
    measure(guest, "blkback_qcow2", dir + "/disk.qcow2", storage::Format::qcow2, raw);
    // raw with O_DIRECT (`direct-io-safe`): the device itself, no page cache on either side.
    measure(guest, "blkback_direct", dir + "/direct.img", storage::Format::raw, dir + "/direct.img",
            true);
    std::filesystem::remove_all(dir);
    return 0;
}
