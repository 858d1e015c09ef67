// L1/L2 lookups, L2 table allocation, and the bounded L2 cache with ordered write-back.
#include "storage/qcow2_tables.hpp"

#include <algorithm>

#include "storage/file_io.hpp"

namespace domus::storage {

Qcow2Tables::Qcow2Tables(Qcow2HostFile& file, const Qcow2Header& header, Qcow2Refcounts* refcounts,
                         std::size_t capacity, Barrier before_l2_write)
    : file_(&file),
      refcounts_(refcounts),
      l2_bits_(header.l2_bits()),
      l1_offset_(header.l1_table_offset),
      capacity_(capacity),
      before_l2_write_(std::move(before_l2_write)) {}

Result<Qcow2Tables> Qcow2Tables::load(Qcow2HostFile& file, const Qcow2Header& header,
                                      Qcow2Refcounts* refcounts, std::size_t cache_bytes,
                                      Barrier before_l2_write) {
    std::size_t capacity = std::max<std::size_t>(2, cache_bytes / header.cluster_size());
    Qcow2Tables tables(file, header, refcounts, capacity, std::move(before_l2_write));
    std::vector<std::byte> raw(std::size_t(header.l1_size) * 8);
    if (!raw.empty()) DOMUS_TRY_VOID(read_exact(file.fd, raw, header.l1_table_offset));
    tables.l1_.resize(header.l1_size);
    for (std::size_t i = 0; i < tables.l1_.size(); ++i) {
        std::uint64_t entry = load_be64(&raw[i * 8]);
        std::uint64_t offset = entry & kOffsetMask;
        if (offset != 0 && !file.holds_cluster(offset))
            return make_error("qcow2: L1 entry {} ({:#x}) is unaligned or outside the file", i,
                              entry);
        tables.l1_[i] = entry;
    }
    return tables;
}

bool Qcow2Tables::has_l2(std::uint64_t guest_cluster) const {
    std::uint64_t l1_index = guest_cluster >> l2_bits_;
    return l1_index < l1_.size() && (l1_[l1_index] & kOffsetMask) != 0;
}

Result<Qcow2Tables::Table*> Qcow2Tables::table(std::uint64_t l1_index, bool create) {
    if (l1_index >= l1_.size())
        return make_error("qcow2: guest cluster beyond the L1 table (index {})", l1_index);
    if (auto found = cached_.find(l1_index); found != cached_.end()) {
        lru_.splice(lru_.begin(), lru_, found->second);
        return &*found->second;
    }
    std::uint64_t offset = l1_[l1_index] & kOffsetMask;
    if (offset == 0 && !create) return static_cast<Table*>(nullptr);
    if (offset != 0 && !(l1_[l1_index] & kOflagCopied) && refcounts_)
        return make_error("qcow2: shared L2 table (internal snapshot) cannot be written");
    DOMUS_TRY_VOID(make_room());
    Table loaded{l1_index, offset, std::vector<std::uint64_t>(std::size_t{1} << l2_bits_), false};
    if (offset != 0) {
        if (!file_->holds_cluster(offset))
            return make_error("qcow2: L2 table at {:#x} is unaligned or outside the file", offset);
        std::vector<std::byte> raw(file_->cluster_size());
        DOMUS_TRY_VOID(read_exact(file_->fd, raw, offset));
        for (std::size_t i = 0; i < loaded.entries.size(); ++i)
            loaded.entries[i] = load_be64(&raw[i * 8]);
    } else {
        // A new table: it lives in the cache (dirty) until a flush or an eviction
        // writes it, and only then, after a sync, does the L1 entry point at it.
        DOMUS_TRY(allocated, refcounts_->allocate());
        loaded.host_offset = allocated;
        loaded.dirty = true;
        ++dirty_tables_;
        l1_[l1_index] = allocated | kOflagCopied;
        dirty_l1_.insert(l1_index);
    }
    lru_.push_front(std::move(loaded));
    cached_[l1_index] = lru_.begin();
    return &lru_.front();
}

Result<void> Qcow2Tables::make_room() {
    while (lru_.size() >= capacity_) {
        Table& victim = lru_.back();
        if (victim.dirty) {
            DOMUS_TRY_VOID(before_l2_write_());
            DOMUS_TRY_VOID(write_table(victim));
        }
        cached_.erase(victim.l1_index);
        lru_.pop_back();
    }
    return {};
}

Result<void> Qcow2Tables::write_table(Table& table) {
    std::vector<std::byte> raw(file_->cluster_size());
    for (std::size_t i = 0; i < table.entries.size(); ++i)
        store_be64(&raw[i * 8], table.entries[i]);
    DOMUS_TRY_VOID(write_all(file_->fd, raw, table.host_offset));
    table.dirty = false;
    --dirty_tables_;
    return {};
}

Result<std::uint64_t> Qcow2Tables::entry(std::uint64_t guest_cluster) {
    DOMUS_TRY(found, table(guest_cluster >> l2_bits_, false));
    if (!found) return std::uint64_t{0};
    return found->entries[guest_cluster & ((1ull << l2_bits_) - 1)];
}

Result<void> Qcow2Tables::set_entry(std::uint64_t guest_cluster, std::uint64_t value) {
    if (!refcounts_) return make_error("qcow2: image is read-only");
    DOMUS_TRY(found, table(guest_cluster >> l2_bits_, true));
    found->entries[guest_cluster & ((1ull << l2_bits_) - 1)] = value;
    if (!found->dirty) {
        found->dirty = true;
        ++dirty_tables_;
    }
    return {};
}

Result<void> Qcow2Tables::write_dirty_l2() {
    for (auto& t : lru_)
        if (t.dirty) DOMUS_TRY_VOID(write_table(t));
    return {};
}

Result<void> Qcow2Tables::write_dirty_l1() {
    for (std::uint64_t index : dirty_l1_) {
        std::byte raw[8];
        store_be64(raw, l1_[index]);
        DOMUS_TRY_VOID(write_all(file_->fd, raw, l1_offset_ + index * 8));
    }
    dirty_l1_.clear();
    return {};
}

}  // namespace domus::storage
