// Tests for monitor/grant_table: a GuestMemory owned by the test plays the guest, which
// writes its grant entries directly; maps, copies, registration, a guest that breaks
// the revoke protocol, and a randomized run of hostile entries.
#include "monitor/grant_table.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <random>
#include <set>
#include <thread>
#include <vector>

namespace domus::monitor {
namespace {

constexpr domid_t kOwner = 7;
constexpr domid_t kBackend = 0;
constexpr std::uint64_t kMemory = 16ull << 20;
constexpr std::uint64_t kGuard = 2ull << 20;
constexpr std::uint64_t kMonitorArea = 14ull << 20;  // [14 MiB, 16 MiB): not grantable
constexpr std::uint64_t kFrameList = 3ull << 20;     // the guest's xen_pfn_t[]
constexpr std::uint64_t kTable = 4ull << 20;         // table frames from here up
constexpr std::uint32_t kFrames = 2;                 // 1024 entries
constexpr std::uint32_t kData = 0x600;               // data frames from 6 MiB up
constexpr std::uint16_t kRw = GTF_permit_access;
constexpr std::uint16_t kRo = GTF_permit_access | GTF_readonly;

std::int16_t status(const Error& e) {
    return std::int16_t(e.code);
}

class GrantTableTest : public ::testing::Test {
protected:
    GrantTableTest()
        : memory_(GuestMemory::create(kMemory, kGuard).value()),
          table_(memory_, kOwner, kGuard, kMonitorArea) {}

    // Registers `n` table frames starting at kTable (frame i at kTable + i pages).
    std::int16_t register_frames(std::uint32_t n, std::uint64_t first = kTable / 4096) {
        for (std::uint32_t i = 0; i < n; ++i)
            EXPECT_TRUE(memory_.write<xen_pfn_t>(kFrameList + i * 8, first + i));
        return table_.set_table(kFrameList, n);
    }
    void SetUp() override { ASSERT_EQ(register_frames(kFrames), GNTST_okay); }

    grant_entry_v1& entry(grant_ref_t ref) {
        return *memory_.object<grant_entry_v1>(kTable + std::uint64_t(ref) * 8);
    }
    // Granting as the guest does: domid, frame, barrier, flags.
    void grant(grant_ref_t ref, domid_t dom, std::uint32_t frame, std::uint16_t flags) {
        entry(ref).domid = dom;
        entry(ref).frame = frame;
        std::atomic_thread_fence(std::memory_order_release);
        entry(ref).flags = flags;
    }
    std::uint16_t flags(grant_ref_t ref) { return entry(ref).flags; }
    std::byte* frame_bytes(std::uint32_t frame) { return memory_.base() + frame * 4096ull; }

    GuestMemory memory_;
    GrantTable table_;
};

TEST(GrantTableAbi, LayoutsMatchXen) {
    EXPECT_EQ(offsetof(grant_entry_v1, domid), 2u);
    EXPECT_EQ(offsetof(grant_entry_v1, frame), 4u);
    EXPECT_EQ(offsetof(gnttab_map_grant_ref, ref), 12u);
    EXPECT_EQ(offsetof(gnttab_map_grant_ref, dom), 16u);
    EXPECT_EQ(offsetof(gnttab_map_grant_ref, status), 18u);
    EXPECT_EQ(offsetof(gnttab_map_grant_ref, handle), 20u);
    EXPECT_EQ(offsetof(gnttab_map_grant_ref, dev_bus_addr), 24u);
    EXPECT_EQ(offsetof(gnttab_unmap_grant_ref, handle), 16u);
    EXPECT_EQ(offsetof(gnttab_unmap_grant_ref, status), 20u);
    EXPECT_EQ(offsetof(gnttab_setup_table, nr_frames), 4u);
    EXPECT_EQ(offsetof(gnttab_setup_table, status), 8u);
    EXPECT_EQ(offsetof(gnttab_setup_table, frame_list), 16u);
    EXPECT_EQ(offsetof(gnttab_copy, dest), 16u);
    EXPECT_EQ(offsetof(gnttab_copy_ptr, domid), 8u);
    EXPECT_EQ(offsetof(gnttab_copy_ptr, offset), 10u);
    EXPECT_EQ(offsetof(gnttab_copy, len), 32u);
    EXPECT_EQ(offsetof(gnttab_copy, flags), 34u);
    EXPECT_EQ(offsetof(gnttab_copy, status), 36u);
    EXPECT_EQ(offsetof(gnttab_query_size, nr_frames), 4u);
    EXPECT_EQ(offsetof(gnttab_query_size, max_nr_frames), 8u);
    EXPECT_EQ(offsetof(gnttab_query_size, status), 12u);
    EXPECT_EQ(DOMUS_GNTTAB_ENTRIES_PER_FRAME, 512u);
}

TEST_F(GrantTableTest, ReadOnlyMapSetsReadingUntilReleased) {
    grant(8, kBackend, kData, kRo);
    std::memcpy(frame_bytes(kData), "hello", 5);
    {
        auto m = table_.map(kBackend, 8, false);
        ASSERT_TRUE(m) << m.error().message;
        EXPECT_EQ(flags(8), kRo | GTF_reading);
        ASSERT_EQ(m->page().size(), 4096u);
        EXPECT_EQ(m->page().data(), frame_bytes(kData));
        EXPECT_EQ(std::memcmp(m->page().data(), "hello", 5), 0);
        EXPECT_EQ(m->gfn(), kData);
        EXPECT_EQ(table_.grants_in_use(), 1u);
    }
    EXPECT_EQ(flags(8), kRo);
    EXPECT_EQ(table_.grants_in_use(), 0u);
}

TEST_F(GrantTableTest, WritableMapSetsReadingAndWriting) {
    grant(9, kBackend, kData + 1, kRw);
    auto m = table_.map(kBackend, 9, true);
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(flags(9), kRw | GTF_reading | GTF_writing);
    std::memcpy(m->page().data() + 100, "data", 4);
    EXPECT_EQ(std::memcmp(frame_bytes(kData + 1) + 100, "data", 4), 0);
    m->reset();
    EXPECT_FALSE(*m);
    EXPECT_EQ(flags(9), kRw);
}

TEST_F(GrantTableTest, ConcurrentMappingsOfOneRefAreCounted) {
    grant(10, kBackend, kData, kRw);
    auto reader = table_.map(kBackend, 10, false);
    auto writer = table_.map(kBackend, 10, true);
    auto reader2 = table_.map(kBackend, 10, false);
    ASSERT_TRUE(reader && writer && reader2);
    EXPECT_EQ(flags(10), kRw | GTF_reading | GTF_writing);
    writer->reset();
    EXPECT_EQ(flags(10), kRw | GTF_reading);  // writing drops with the last writer
    reader->reset();
    EXPECT_EQ(flags(10), kRw | GTF_reading);
    GrantMapping moved = std::move(*reader2);  // a moved-from mapping releases nothing
    reader2->reset();
    EXPECT_EQ(flags(10), kRw | GTF_reading);
    moved.reset();
    EXPECT_EQ(flags(10), kRw);
}

TEST_F(GrantTableTest, BatchMapsEveryRefAndReleasesThemTogether) {
    for (grant_ref_t ref = 20; ref < 24; ++ref)
        grant(ref, kBackend, kData + ref, kRw);
    const grant_ref_t refs[] = {20, 21, 22, 23};
    GrantBatch batch;
    ASSERT_TRUE(table_.map_batch(kBackend, refs, true, batch));
    ASSERT_EQ(batch.size(), 4u);
    EXPECT_EQ(table_.grants_in_use(), 4u);
    for (std::size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(flags(refs[i]), kRw | GTF_reading | GTF_writing);
        EXPECT_EQ(batch.page(i).data(), frame_bytes(kData + refs[i]));
    }
    GrantBatch moved = std::move(batch);  // a moved-from batch releases nothing
    batch.reset();
    EXPECT_EQ(table_.grants_in_use(), 4u);
    // Reused for the next request: the previous uses end first.
    const grant_ref_t again[] = {22};
    ASSERT_TRUE(table_.map_batch(kBackend, again, false, moved));
    EXPECT_EQ(flags(20), kRw);
    EXPECT_EQ(flags(22), kRw | GTF_reading);
    moved.reset();
    EXPECT_EQ(table_.grants_in_use(), 0u);
}

TEST_F(GrantTableTest, BatchWithOneBadRefMapsNothing) {
    grant(30, kBackend, kData, kRw);
    grant(31, kBackend, kData + 1, kRo);  // a read-only grant in a writable batch
    grant(32, kBackend, kData + 2, kRw);
    const grant_ref_t refs[] = {30, 31, 32};
    GrantBatch batch;
    auto mapped = table_.map_batch(kBackend, refs, true, batch);
    ASSERT_FALSE(mapped);
    EXPECT_EQ(status(mapped.error()), GNTST_general_error);
    EXPECT_EQ(batch.size(), 0u);
    EXPECT_EQ(table_.grants_in_use(), 0u);
    EXPECT_EQ(flags(30), kRw);  // the use taken before the bad ref was given back
    EXPECT_EQ(flags(32), kRw);
    const grant_ref_t out_of_range[] = {30, 100000};
    auto far = table_.map_batch(kBackend, out_of_range, false, batch);
    ASSERT_FALSE(far);
    EXPECT_EQ(status(far.error()), GNTST_bad_gntref);
    EXPECT_EQ(flags(30), kRw);
}

TEST_F(GrantTableTest, ReadOnlyGrantRefusesWritableMap) {
    grant(11, kBackend, kData, kRo);
    auto m = table_.map(kBackend, 11, true);
    ASSERT_FALSE(m);
    EXPECT_EQ(status(m.error()), GNTST_general_error);
    EXPECT_EQ(table_.stats().readonly, 1u);
    EXPECT_EQ(flags(11), kRo);
    // A read-only user of the same grant is still fine.
    EXPECT_TRUE(table_.map(kBackend, 11, false));
}

TEST_F(GrantTableTest, WrongDomainIsRefused) {
    grant(12, 3, kData, kRw);
    auto m = table_.map(kBackend, 12, false);
    ASSERT_FALSE(m);
    EXPECT_EQ(status(m.error()), GNTST_general_error);
    EXPECT_EQ(table_.stats().bad_domain, 1u);
    EXPECT_EQ(flags(12), kRw);
    // DOMID_SELF in an entry names the owner only, never a backend.
    grant(13, DOMID_SELF, kData, kRw);
    EXPECT_FALSE(table_.map(kBackend, 13, false));
    EXPECT_TRUE(table_.map(kOwner, 13, true));
}

TEST_F(GrantTableTest, EntriesThatGrantNothingAreRefused) {
    for (std::uint16_t f : {std::uint16_t(GTF_invalid), std::uint16_t(GTF_accept_transfer),
                            std::uint16_t(GTF_transitive), std::uint16_t(GTF_readonly),
                            std::uint16_t(GTF_reading | GTF_writing)}) {
        grant(14, kBackend, kData, f);
        auto m = table_.map(kBackend, 14, false);
        ASSERT_FALSE(m) << f;
        EXPECT_EQ(status(m.error()), GNTST_general_error);
        EXPECT_EQ(flags(14), f);
    }
    EXPECT_EQ(table_.stats().bad_type, 5u);
}

TEST_F(GrantTableTest, RefsOutOfRangeAreRefused) {
    const grant_ref_t n = kFrames * 512;
    EXPECT_EQ(table_.nr_entries(), n);
    grant(n - 1, kBackend, kData, kRw);
    EXPECT_TRUE(table_.map(kBackend, n - 1, false));
    for (grant_ref_t ref : {n, n + 1, 0x7fffffffu, 0xffffffffu}) {
        auto m = table_.map(kBackend, ref, false);
        ASSERT_FALSE(m);
        EXPECT_EQ(status(m.error()), GNTST_bad_gntref);
    }
    EXPECT_EQ(table_.stats().bad_ref, 4u);
}

TEST_F(GrantTableTest, FramesOutsideGuestRamAreRefusedAndLeaveNoFlags) {
    const std::uint32_t bad[] = {0,
                                 1,
                                 std::uint32_t(kGuard / 4096 - 1),
                                 std::uint32_t(kMonitorArea / 4096),
                                 std::uint32_t(kMemory / 4096 - 1),
                                 std::uint32_t(kMemory / 4096),
                                 0x7fffffffu,
                                 0xffffffffu};
    for (std::uint32_t frame : bad) {
        grant(15, kBackend, frame, kRw);
        auto m = table_.map(kBackend, 15, true);
        ASSERT_FALSE(m) << frame;
        EXPECT_EQ(status(m.error()), GNTST_bad_page);
        EXPECT_EQ(flags(15), kRw);
    }
    EXPECT_EQ(table_.stats().bad_frame, std::size(bad));
    grant(15, kBackend, std::uint32_t(kGuard / 4096), kRw);  // first usable frame
    EXPECT_TRUE(table_.map(kBackend, 15, true));
    grant(15, kBackend, std::uint32_t(kMonitorArea / 4096 - 1), kRw);  // last one
    EXPECT_TRUE(table_.map(kBackend, 15, true));
}

TEST(GrantTableEmpty, NoTableMeansNoValidRef) {
    auto memory = GuestMemory::create(kMemory, kGuard).value();
    GrantTable table(memory, kOwner, kGuard, kMonitorArea);
    EXPECT_EQ(table.nr_frames(), 0u);
    for (grant_ref_t ref : {0u, 8u, 0xffffffffu}) {
        auto m = table.map(kBackend, ref, false);
        ASSERT_FALSE(m);
        EXPECT_EQ(status(m.error()), GNTST_bad_gntref);
    }
    gnttab_copy op{};
    op.flags = GNTCOPY_source_gref | GNTCOPY_dest_gref;
    op.source.domid = op.dest.domid = DOMID_SELF;
    op.len = 1;
    EXPECT_EQ(table.copy(op), GNTST_bad_gntref);
}

TEST_F(GrantTableTest, CopyToAndFromGrants) {
    grant(16, kBackend, kData, kRw);
    grant(17, kBackend, kData + 1, kRo);
    std::memcpy(frame_bytes(kData + 1) + 4000, "readonly", 8);
    std::byte buf[8];
    ASSERT_TRUE(table_.copy_from_grant(kBackend, 17, 4000, buf));
    EXPECT_EQ(std::memcmp(buf, "readonly", 8), 0);
    ASSERT_TRUE(table_.copy_to_grant(kBackend, 16, 4088, buf));
    EXPECT_EQ(std::memcmp(frame_bytes(kData) + 4088, "readonly", 8), 0);
    EXPECT_EQ(flags(16), kRw);  // the copies ended their use
    EXPECT_EQ(flags(17), kRo);
    auto denied = table_.copy_to_grant(kBackend, 17, 0, buf);
    ASSERT_FALSE(denied);
    EXPECT_EQ(status(denied.error()), GNTST_general_error);
}

TEST_F(GrantTableTest, CopyWithBadOffsetOrLengthIsRefusedBeforeTouchingTheEntry) {
    grant(18, kBackend, kData, kRw);
    std::vector<std::byte> big(4097);
    std::byte small[200];
    struct Case {
        std::uint32_t offset;
        std::size_t size;
    };
    for (auto c : {Case{4000, 200}, Case{4097, 0}, Case{0, 4097}, Case{0xffffffffu, 2}}) {
        auto r = c.size > sizeof small
                     ? table_.copy_from_grant(kBackend, 18, c.offset, big)
                     : table_.copy_from_grant(kBackend, 18, c.offset, {small, c.size});
        ASSERT_FALSE(r) << c.offset;
        EXPECT_EQ(status(r.error()), GNTST_bad_copy_arg);
        EXPECT_EQ(flags(18), kRw);
    }
    EXPECT_TRUE(table_.copy_from_grant(kBackend, 18, 4096, {small, 0}));  // empty, at the end
    EXPECT_TRUE(table_.copy_from_grant(kBackend, 18, 0, {big.data(), 4096}));
}

TEST_F(GrantTableTest, SelfCopyBetweenOwnGrants) {
    grant(20, DOMID_SELF, kData, kRo);
    grant(21, kOwner, kData + 1, kRw);
    std::memcpy(frame_bytes(kData) + 10, "copied!", 7);
    gnttab_copy op{};
    op.flags = GNTCOPY_source_gref | GNTCOPY_dest_gref;
    op.source = {{20}, DOMID_SELF, 10, 0};
    op.dest = {{21}, kOwner, 4089, 0};
    op.len = 7;
    EXPECT_EQ(table_.copy(op), GNTST_okay);
    EXPECT_EQ(std::memcmp(frame_bytes(kData + 1) + 4089, "copied!", 7), 0);
    EXPECT_EQ(flags(20), kRo);
    EXPECT_EQ(flags(21), kRw);

    gnttab_copy bad = op;
    bad.len = 8;  // dest 4089 + 8 crosses the page
    EXPECT_EQ(table_.copy(bad), GNTST_bad_copy_arg);
    bad = op;
    bad.dest.u.ref = 20;  // read-only destination
    EXPECT_EQ(table_.copy(bad), GNTST_general_error);
    EXPECT_EQ(flags(20), kRo);  // the source's own use was released
    bad = op;
    bad.flags = GNTCOPY_dest_gref;  // source as a frame number
    EXPECT_EQ(table_.copy(bad), GNTST_permission_denied);
    bad = op;
    bad.source.domid = 3;
    EXPECT_EQ(table_.copy(bad), GNTST_bad_domain);
    bad = op;
    bad.source.u.ref = 0xffffffffu;
    EXPECT_EQ(table_.copy(bad), GNTST_bad_gntref);
    grant(22, kBackend, kData, kRw);  // granted to someone else
    bad = op;
    bad.dest.u.ref = 22;
    EXPECT_EQ(table_.copy(bad), GNTST_general_error);
    // Same page as source and destination: overlapping move.
    op.source = {{21}, DOMID_SELF, 4089, 0};
    op.dest = {{21}, DOMID_SELF, 4090, 0};
    op.len = 6;
    EXPECT_EQ(table_.copy(op), GNTST_okay);
    EXPECT_EQ(std::memcmp(frame_bytes(kData + 1) + 4090, "copied", 6), 0);
    EXPECT_EQ(table_.grants_in_use(), 0u);
}

TEST_F(GrantTableTest, GuestRevokingWhileMappedDoesNotBreakTheMapping) {
    grant(24, kBackend, kData, kRw);
    auto m = table_.map(kBackend, 24, true);
    ASSERT_TRUE(m);
    // A broken guest ignores GTF_writing and clears the entry anyway.
    entry(24).flags = 0;
    entry(24).frame = 0xffffffffu;
    std::memset(m->page().data(), 0xab, 4096);  // still guest RAM, still the old frame
    EXPECT_EQ(std::to_integer<int>(frame_bytes(kData)[4095]), 0xab);
    // New uses of the ref are refused; the old one lives on.
    EXPECT_FALSE(table_.map(kBackend, 24, false));
    m->reset();
    EXPECT_EQ(flags(24), 0u);  // nothing set again
    // It grants the entry to someone else while a mapping is alive: the release
    // clears only the in-use bits.
    grant(25, kBackend, kData, kRo);
    auto r = table_.map(kBackend, 25, false);
    ASSERT_TRUE(r);
    grant(25, 3, kData + 1, kRw | GTF_PWT);
    r->reset();
    EXPECT_EQ(flags(25), kRw | GTF_PWT);
    EXPECT_EQ(entry(25).domid, 3);
}

TEST_F(GrantTableTest, InUseRefHeldByOneGranteeIsRefusedToAnother) {
    grant(26, kBackend, kData, kRw);
    auto m = table_.map(kBackend, 26, false);
    ASSERT_TRUE(m);
    grant(26, 4, kData, kRw | GTF_reading);  // guest renames the grantee under our feet
    auto other = table_.map(4, 26, false);
    ASSERT_FALSE(other);
    EXPECT_EQ(status(other.error()), GNTST_general_error);
}

TEST_F(GrantTableTest, RegistrationChecksTheFrameList) {
    // Frame list pointers outside guest memory, below the guard or running past the end.
    for (std::uint64_t list : std::initializer_list<std::uint64_t>{
             0, 0x1000, kGuard - 8, kMemory - 8, kMemory, ~0ull - 7}) {
        EXPECT_EQ(table_.set_table(list, 2), GNTST_bad_virt_addr) << list;
    }
    EXPECT_EQ(register_frames(GrantTable::kMaxFrames + 1), GNTST_general_error);
    EXPECT_EQ(register_frames(1, kGuard / 4096 - 1), GNTST_general_error);
    EXPECT_EQ(register_frames(2, kMonitorArea / 4096 - 1), GNTST_general_error);
    EXPECT_EQ(register_frames(1, 1ull << 60), GNTST_general_error);
    memory_.write<xen_pfn_t>(kFrameList, kTable / 4096);
    memory_.write<xen_pfn_t>(kFrameList + 8, kTable / 4096);
    EXPECT_EQ(table_.set_table(kFrameList, 2), GNTST_general_error);  // duplicate
    EXPECT_EQ(table_.nr_frames(), kFrames);                           // unchanged
    EXPECT_EQ(register_frames(GrantTable::kMaxFrames), GNTST_okay);
    EXPECT_EQ(table_.nr_entries(), 32768u);
    EXPECT_EQ(table_.set_table(0, 0), GNTST_okay);  // no table
    EXPECT_EQ(table_.nr_frames(), 0u);
    EXPECT_GE(table_.stats().bad_set_table, 11u);
}

TEST_F(GrantTableTest, ReRegistrationIsRefusedWhileAGrantIsInUse) {
    grant(30, kBackend, kData, kRw);
    auto m = table_.map(kBackend, 30, true);
    ASSERT_TRUE(m);
    EXPECT_EQ(register_frames(4), GNTST_eagain);
    EXPECT_EQ(table_.set_table(0, 0), GNTST_eagain);
    EXPECT_EQ(table_.nr_frames(), kFrames);
    m->reset();
    EXPECT_EQ(register_frames(4, kTable / 4096 + 8), GNTST_okay);  // the table moves
    EXPECT_EQ(table_.nr_frames(), 4u);
    auto gone = table_.map(kBackend, 30, false);  // the new frames hold zeros
    ASSERT_FALSE(gone);
    EXPECT_EQ(status(gone.error()), GNTST_general_error);
}

// Xen's protocol end to end: a "guest" thread grants and revokes (compare-exchange to 0
// unless in use) while the host maps and releases. While a mapping lives, the guest
// can never revoke the entry.
TEST_F(GrantTableTest, GuestRevokeNeverWinsAgainstALiveMapping) {
    std::atomic<bool> done{false};
    std::atomic<int> revokes{0};
    std::thread guest([&] {
        while (!done.load()) {
            entry(40).domid = kBackend;
            entry(40).frame = kData;
            std::atomic_ref<std::uint16_t> f(entry(40).flags);
            f.store(kRw);
            std::this_thread::yield();  // let the host catch it granted
            for (;;) {
                std::uint16_t seen = f.load();
                if (seen & (GTF_reading | GTF_writing)) continue;  // in use: wait
                if (f.compare_exchange_strong(seen, 0)) break;
            }
            ++revokes;
        }
    });
    int maps = 0;
    for (int i = 0; i < 200000 && (maps < 1000 || revokes.load() < 1000); ++i) {
        auto m = table_.map(kBackend, 40, i % 2);
        if (!m) continue;
        ++maps;
        std::uint16_t f = std::atomic_ref<std::uint16_t>(entry(40).flags).load();
        ASSERT_EQ(f & GTF_type_mask, GTF_permit_access);
        ASSERT_TRUE(f & GTF_reading);
    }
    done = true;
    guest.join();
    EXPECT_GT(maps, 0);
    EXPECT_GT(revokes.load(), 0);
    EXPECT_EQ(table_.grants_in_use(), 0u);
}

// Hostile entries: random flags, domids, frames and refs, rewritten between and during
// uses. Only the documented codes come back, every page handed out is usable guest
// RAM, and when all uses end the table is idle.
TEST_F(GrantTableTest, RandomHostileEntriesGiveOnlyDocumentedStatuses) {
    std::mt19937_64 rng(20240611);
    const std::set<int> documented = {GNTST_bad_gntref, GNTST_general_error,
                                      GNTST_bad_page,   GNTST_bad_copy_arg,
                                      GNTST_bad_domain, GNTST_permission_denied};
    const grant_ref_t n = table_.nr_entries();
    auto random_frame = [&]() -> std::uint32_t {
        switch (rng() % 4) {
            case 0:
                return std::uint32_t(rng());
            case 1:
                return std::uint32_t(rng() % (kMemory / 4096 + 16));
            default:
                return std::uint32_t(kData + rng() % 64);
        }
    };
    auto scribble = [&] {
        grant_ref_t ref = rng() % 64;
        entry(ref).domid = rng() % 4 ? kBackend : domid_t(rng());
        entry(ref).frame = random_frame();
        entry(ref).flags = rng() % 3 ? std::uint16_t(rng() % 8) : std::uint16_t(rng());
    };
    std::vector<GrantMapping> live;
    int ok = 0;
    for (int i = 0; i < 20000; ++i) {
        scribble();
        grant_ref_t ref = rng() % 8 == 0 ? grant_ref_t(rng()) : grant_ref_t(rng() % 64);
        if (rng() % 8 == 0) ref = n + grant_ref_t(rng() % 4);
        if (rng() % 5 == 0) {
            gnttab_copy op;
            for (auto& b : reinterpret_cast<std::uint8_t(&)[sizeof op]>(op))
                b = std::uint8_t(rng());
            op.flags = rng() % 2 ? (GNTCOPY_source_gref | GNTCOPY_dest_gref) : op.flags;
            if (rng() % 2) op.source.domid = op.dest.domid = DOMID_SELF;
            if (rng() % 2) op.source.u.ref = rng() % 64, op.dest.u.ref = rng() % 64;
            if (rng() % 2) op.len %= 64, op.source.offset %= 4000, op.dest.offset %= 4000;
            std::int16_t s = table_.copy(op);
            EXPECT_TRUE(s == GNTST_okay || documented.count(s)) << s;
            continue;
        }
        auto m = table_.map(rng() % 8 ? kBackend : domid_t(rng()), ref, rng() % 2);
        if (m) {
            ++ok;
            auto* page = m->page().data();
            ASSERT_GE(page, memory_.base() + kGuard);
            ASSERT_LE(page + 4096, memory_.base() + kMonitorArea);
            page[rng() % 4096] = std::byte(1);
            live.push_back(std::move(m).value());
        } else {
            EXPECT_TRUE(documented.count(status(m.error()))) << status(m.error());
        }
        if (!live.empty() && rng() % 2) live.erase(live.begin() + long(rng() % live.size()));
        if (rng() % 500 == 0) {  // a re-registration attempt while in use
            EXPECT_EQ(register_frames(kFrames), live.empty() ? GNTST_okay : GNTST_eagain);
        }
    }
    EXPECT_GT(ok, 100);  // the fuzz reached the success path too
    live.clear();
    EXPECT_EQ(table_.grants_in_use(), 0u);
    EXPECT_EQ(register_frames(kFrames), GNTST_okay);
}

// Live migration: frames mapped writable while tracking are reported once (the round
// after), frames still mapped writable in every round, read-only ones never.
TEST_F(GrantTableTest, WriteTrackingReportsTheFramesBackendsMayHaveWritten) {
    grant(1, kBackend, kData, kRw);
    grant(2, kBackend, kData + 1, kRw);
    grant(3, kBackend, kData + 2, kRo);
    {
        auto untracked = table_.map(kBackend, 1, true);
        ASSERT_TRUE(untracked);
    }
    table_.track_writes(true);
    EXPECT_TRUE(table_.written_frames().empty()) << "nothing mapped before tracking counts";
    {
        auto once = table_.map(kBackend, 1, true);
        ASSERT_TRUE(once);
    }
    auto held = table_.map(kBackend, 2, true);
    ASSERT_TRUE(held);
    auto reader = table_.map(kBackend, 3, false);
    ASSERT_TRUE(reader);
    auto first = table_.written_frames();
    std::set<std::uint64_t> seen(first.begin(), first.end());
    EXPECT_EQ(seen, (std::set<std::uint64_t>{kData, kData + 1}));
    auto second = table_.written_frames();
    EXPECT_EQ(second, std::vector<std::uint64_t>{kData + 1}) << "only the one still held";
    table_.track_writes(false);
    held->reset();
    EXPECT_TRUE(table_.written_frames().empty());
}

}  // namespace
}  // namespace domus::monitor
