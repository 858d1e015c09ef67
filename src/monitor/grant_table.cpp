// GrantTable: Xen's v1 grant protocol on the host side. Every guest value (ref, the
// {flags, domid} word, frame) is read once, checked, then acted on; the entry's in-use
// bits change only by compare-exchange (set) and atomic AND (clear), as in Xen.
#include "monitor/grant_table.hpp"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstring>
#include <new>
#include <string>
#include <utility>

namespace domus::monitor {
namespace {

constexpr int kCasRetries = 4;  // as Xen: then the entry is "unstable"

// The first 32 bits of an entry: flags in the low half, domid in the high half.
std::atomic_ref<std::uint32_t> header_word(grant_entry_v1* entry) noexcept {
    static_assert(offsetof(grant_entry_v1, flags) == 0 && offsetof(grant_entry_v1, domid) == 2);
    return std::atomic_ref<std::uint32_t>(*reinterpret_cast<std::uint32_t*>(entry));
}

// A refusal's description. These run on hypercall paths that must not terminate the
// monitor: without memory for the text, the refusal still counts, undescribed.
template <class... Args>
std::string describe(fmt::format_string<Args...> format, Args&&... args) noexcept {
    try {
        return fmt::format(format, std::forward<Args>(args)...);
    } catch (...) {
        return {};
    }
}

bool copy_range_ok(std::uint32_t offset, std::size_t size) noexcept {
    return offset <= GrantTable::kPageBytes && size <= GrantTable::kPageBytes - offset;
}

}  // namespace

// ---- GrantBatch ---------------------------------------------------------------------
GrantBatch& GrantBatch::operator=(GrantBatch&& o) noexcept {
    if (this != &o) {
        reset();
        table_ = std::exchange(o.table_, nullptr);
        writable_ = o.writable_;
        refs_ = std::move(o.refs_);
        pages_ = std::move(o.pages_);
        o.refs_.clear();
        o.pages_.clear();
    }
    return *this;
}

void GrantBatch::reset() noexcept {
    if (table_) std::exchange(table_, nullptr)->release_batch(refs_, writable_);
    refs_.clear();
    pages_.clear();
}

// ---- GrantMapping -------------------------------------------------------------------
GrantMapping& GrantMapping::operator=(GrantMapping&& o) noexcept {
    if (this != &o) {
        reset();
        table_ = std::exchange(o.table_, nullptr);
        ref_ = o.ref_;
        writable_ = o.writable_;
        gfn_ = o.gfn_;
        page_ = std::exchange(o.page_, {});
    }
    return *this;
}

void GrantMapping::reset() noexcept {
    if (table_) std::exchange(table_, nullptr)->release(ref_, writable_);
    page_ = {};
}

// ---- GrantTable ---------------------------------------------------------------------
GrantTable::GrantTable(GuestMemory& memory, domid_t owner, std::uint64_t ram_begin,
                       std::uint64_t ram_end)
    : memory_(memory),
      owner_(owner),
      ram_begin_(ram_begin),
      ram_end_(std::min(ram_end, memory.size())) {
    // usable_frame() stands for memory_.range() succeeding (use_locked dereferences it):
    // true only if no usable frame lies in the guard that range() refuses.
    assert(ram_begin_ >= memory.guard());
}

GrantTable::~GrantTable() {
    // Backends release their mappings before the domain drops its table.
    assert(in_use_ == 0);
}

std::uint32_t GrantTable::nr_frames() const noexcept {
    std::lock_guard lock(mutex_);
    return std::uint32_t(frames_.size());
}

std::size_t GrantTable::grants_in_use() const noexcept {
    std::lock_guard lock(mutex_);
    return in_use_;
}

GrantTableStats GrantTable::stats() const noexcept {
    std::lock_guard lock(mutex_);
    return stats_;
}

bool GrantTable::usable_frame(std::uint64_t gfn) const noexcept {
    return gfn >= ram_begin_ / kPageBytes && gfn < ram_end_ / kPageBytes;
}

grant_entry_v1* GrantTable::entry(grant_ref_t ref) const noexcept {
    return reinterpret_cast<grant_entry_v1*>(frames_[ref / kEntriesPerFrame]) +
           ref % kEntriesPerFrame;
}

Error GrantTable::refuse(std::uint64_t GrantTableStats::*counter, std::int16_t status,
                         std::string message) noexcept {
    ++(stats_.*counter);
    try {
        if (warn_limit_.allow()) DOMUS_LOG_WARN("gnttab", "{}", message);
    } catch (...) {  // the log line is lost, not the monitor
    }
    return Error{std::move(message), status};
}

std::int16_t GrantTable::set_table(std::uint64_t frame_list, std::uint32_t nr_frames) noexcept {
    std::lock_guard lock(mutex_);
    auto refused = [&](std::int16_t status, std::string why) {
        return std::int16_t(refuse(&GrantTableStats::bad_set_table, status, std::move(why)).code);
    };
    if (in_use_ != 0)
        return refused(GNTST_eagain, describe("set_table while {} grants are in use", in_use_));
    if (nr_frames > kMaxFrames)
        return refused(GNTST_general_error, describe("set_table of {} frames", nr_frames));

    xen_pfn_t list[kMaxFrames];  // the only read of the guest's list
    if (nr_frames) {
        auto bytes = memory_.range(frame_list, std::uint64_t(nr_frames) * sizeof(xen_pfn_t));
        if (!bytes)
            return refused(GNTST_bad_virt_addr,
                           describe("set_table: bad frame list address {:#x}", frame_list));
        std::memcpy(list, bytes->data(), bytes->size());
    }
    std::vector<std::byte*> frames;
    try {  // once per registration, not per I/O; out of memory refuses it
        frames.reserve(nr_frames);
        active_.reserve(std::size_t(nr_frames) * kEntriesPerFrame);
    } catch (const std::bad_alloc&) {
        return refused(GNTST_general_error, {});
    }
    for (std::uint32_t i = 0; i < nr_frames; ++i) {
        if (!usable_frame(list[i]))
            return refused(GNTST_general_error,
                           describe("set_table: frame {:#x} outside guest RAM", list[i]));
        if (std::find(list, list + i, list[i]) != list + i)
            return refused(GNTST_general_error,
                           describe("set_table: frame {:#x} listed twice", list[i]));
        frames.push_back(memory_.range(list[i] * kPageBytes, kPageBytes)->data());
    }
    frames_ = std::move(frames);
    active_.assign(frames_.size() * kEntriesPerFrame, Active{});
    return GNTST_okay;
}

Result<GrantMapping> GrantTable::map(domid_t grantee, grant_ref_t ref, bool writable) noexcept {
    std::lock_guard lock(mutex_);
    std::uint64_t gfn = 0;
    DOMUS_TRY(page, use_locked(grantee, ref, writable, gfn));
    return GrantMapping(this, ref, writable, gfn, page);
}

Result<void> GrantTable::map_batch(domid_t grantee, std::span<const grant_ref_t> refs,
                                   bool writable, GrantBatch& batch) noexcept {
    batch.reset();
    batch.refs_.reserve(refs.size());  // before the lock: the only allocation, if any
    batch.pages_.reserve(refs.size());
    std::lock_guard lock(mutex_);
    for (grant_ref_t ref : refs) {
        std::uint64_t gfn = 0;
        auto page = use_locked(grantee, ref, writable, gfn);
        if (!page) {
            for (grant_ref_t taken : batch.refs_)
                release_locked(taken, writable);
            batch.refs_.clear();
            batch.pages_.clear();
            return std::move(page).error();
        }
        batch.refs_.push_back(ref);
        batch.pages_.push_back(*page);
    }
    batch.table_ = this;
    batch.writable_ = writable;
    return {};
}

Result<std::span<std::byte>> GrantTable::use_locked(domid_t grantee, grant_ref_t ref, bool writable,
                                                    std::uint64_t& gfn) noexcept {
    if (ref >= frames_.size() * kEntriesPerFrame)
        return refuse(
            &GrantTableStats::bad_ref, GNTST_bad_gntref,
            describe("ref {} out of range ({} entries)", ref, frames_.size() * kEntriesPerFrame));
    Active& active = active_[ref];
    if (active.readers != 0 && active.grantee != grantee)
        return refuse(&GrantTableStats::bad_domain, GNTST_general_error,
                      describe("ref {} in use by d{}, asked by d{}", ref, active.grantee, grantee));

    // Check and mark in one step: the guest may rewrite the entry at any moment.
    grant_entry_v1* e = entry(ref);
    auto word = header_word(e);
    const std::uint32_t want = GTF_reading | (writable ? GTF_writing : 0u);
    std::uint32_t seen = word.load(std::memory_order_acquire);
    for (int tries = 0;; ++tries) {
        auto flags = std::uint16_t(seen);
        auto domid = domid_t(seen >> 16);
        if ((flags & GTF_type_mask) != GTF_permit_access)
            return refuse(&GrantTableStats::bad_type, GNTST_general_error,
                          describe("ref {}: flags {:#x} grant no access", ref, flags));
        if (domid != grantee && !(grantee == owner_ && domid == DOMID_SELF))
            return refuse(&GrantTableStats::bad_domain, GNTST_general_error,
                          describe("ref {}: granted to d{}, not d{}", ref, domid, grantee));
        if (writable && (flags & GTF_readonly))
            return refuse(&GrantTableStats::readonly, GNTST_general_error,
                          describe("ref {}: write use of a read-only grant", ref));
        if ((seen | want) == seen) break;
        // acq_rel: our bits are visible before we touch the page; the guest's frame
        // write (ordered before its flags write) is visible after.
        if (word.compare_exchange_strong(seen, seen | want, std::memory_order_acq_rel,
                                         std::memory_order_acquire))
            break;
        if (tries == kCasRetries)
            return refuse(&GrantTableStats::unstable, GNTST_general_error,
                          describe("ref {}: entry keeps changing", ref));
    }

    if (active.readers != 0) {
        gfn = active.gfn;  // fixed while in use, as Xen's active entry
    } else {
        gfn = std::atomic_ref<std::uint32_t>(e->frame).load(std::memory_order_acquire);
        if (!usable_frame(gfn)) {
            word.fetch_and(~want, std::memory_order_release);  // undo: nobody else uses it
            return refuse(&GrantTableStats::bad_frame, GNTST_bad_page,
                          describe("ref {}: frame {:#x} outside guest RAM", ref, gfn));
        }
    }
    if (active.readers == 0) ++in_use_;
    active.grantee = grantee;
    active.gfn = std::uint32_t(gfn);
    ++active.readers;
    if (writable) ++active.writers;
    ++stats_.maps;
    if (writable && tracking_) {
        try {
            written_.push_back(gfn);
        } catch (...) {  // out of memory: the frame is still mapped, so it is sent anyway
        }
    }
    return *memory_.range(gfn * kPageBytes, kPageBytes);
}

void GrantTable::release(grant_ref_t ref, bool writable) noexcept {
    std::lock_guard lock(mutex_);
    release_locked(ref, writable);
}

void GrantTable::release_batch(std::span<const grant_ref_t> refs, bool writable) noexcept {
    std::lock_guard lock(mutex_);
    for (grant_ref_t ref : refs)
        release_locked(ref, writable);
}

void GrantTable::release_locked(grant_ref_t ref, bool writable) noexcept {
    Active& active = active_[ref];
    assert(active.readers != 0);
    std::uint32_t clear = 0;
    if (writable && --active.writers == 0) clear |= GTF_writing;
    if (--active.readers == 0) {
        clear |= GTF_reading | GTF_writing;
        --in_use_;
    }
    // Only ever clears our bits: if the guest rewrote the entry meanwhile (a broken
    // revoke), nothing is set again. Release: our page accesses happen before.
    if (clear) header_word(entry(ref)).fetch_and(~clear, std::memory_order_release);
}

Result<void> GrantTable::copy_from_grant(domid_t grantee, grant_ref_t ref, std::uint32_t offset,
                                         std::span<std::byte> out) noexcept {
    if (!copy_range_ok(offset, out.size())) {
        std::lock_guard lock(mutex_);
        return refuse(&GrantTableStats::bad_copy_arg, GNTST_bad_copy_arg,
                      describe("copy of {} bytes at {} crosses the page", out.size(), offset));
    }
    DOMUS_TRY(mapping, map(grantee, ref, false));
    std::memcpy(out.data(), mapping.page().data() + offset, out.size());
    return {};
}

Result<void> GrantTable::copy_to_grant(domid_t grantee, grant_ref_t ref, std::uint32_t offset,
                                       std::span<const std::byte> in) noexcept {
    if (!copy_range_ok(offset, in.size())) {
        std::lock_guard lock(mutex_);
        return refuse(&GrantTableStats::bad_copy_arg, GNTST_bad_copy_arg,
                      describe("copy of {} bytes at {} crosses the page", in.size(), offset));
    }
    DOMUS_TRY(mapping, map(grantee, ref, true));
    std::memcpy(mapping.page().data() + offset, in.data(), in.size());
    return {};
}

void GrantTable::track_writes(bool on) noexcept {
    std::lock_guard lock(mutex_);
    tracking_ = on;
    written_.clear();
    written_.shrink_to_fit();
}

std::vector<std::uint64_t> GrantTable::written_frames() {
    std::lock_guard lock(mutex_);
    std::vector<std::uint64_t> frames;
    frames.swap(written_);
    for (const auto& active : active_)
        if (active.writers > 0) frames.push_back(active.gfn);
    return frames;
}

std::int16_t GrantTable::copy(const gnttab_copy& op) noexcept {
    auto self = [&](domid_t dom) { return dom == DOMID_SELF || dom == owner_; };
    {
        std::lock_guard lock(mutex_);
        if ((op.flags & (GNTCOPY_source_gref | GNTCOPY_dest_gref)) !=
            (GNTCOPY_source_gref | GNTCOPY_dest_gref))
            return std::int16_t(refuse(&GrantTableStats::bad_copy_arg, GNTST_permission_denied,
                                       describe("copy: a side is a frame, not a grant ref"))
                                    .code);
        if (!self(op.source.domid) || !self(op.dest.domid))
            return std::int16_t(
                refuse(&GrantTableStats::bad_copy_arg, GNTST_bad_domain,
                       describe("copy between d{} and d{}", op.source.domid, op.dest.domid))
                    .code);
        if (!copy_range_ok(op.source.offset, op.len) || !copy_range_ok(op.dest.offset, op.len))
            return std::int16_t(refuse(&GrantTableStats::bad_copy_arg, GNTST_bad_copy_arg,
                                       describe("copy of {} bytes at {}/{} crosses the page",
                                                op.len, op.source.offset, op.dest.offset))
                                    .code);
    }
    auto source = map(owner_, op.source.u.ref, false);
    if (!source) return std::int16_t(source.error().code);
    auto dest = map(owner_, op.dest.u.ref, true);
    if (!dest) return std::int16_t(dest.error().code);
    // memmove: source and destination may be the same page.
    std::memmove(dest->page().data() + op.dest.offset, source->page().data() + op.source.offset,
                 op.len);
    return GNTST_okay;
}

}  // namespace domus::monitor
