// Refcount reads, updates and cluster allocation, including new refcount blocks and a
// growing refcount table, each written in an order that keeps the on-disk refcounts at
// or above the real reference counts.
#include "storage/qcow2_refcounts.hpp"

#include <algorithm>

#include "base/checked.hpp"
#include "storage/file_io.hpp"

namespace domus::storage {

Qcow2Refcounts::Qcow2Refcounts(Qcow2HostFile& file, const Qcow2Header& header)
    : file_(&file),
      order_(header.refcount_order),
      table_offset_(header.refcount_table_offset),
      table_clusters_(header.refcount_table_clusters) {}

Result<Qcow2Refcounts> Qcow2Refcounts::load(Qcow2HostFile& file, const Qcow2Header& header) {
    if (header.refcount_order < 3 || header.refcount_order > 6)
        return make_error("qcow2: refcount order {} is not supported for writing",
                          header.refcount_order);
    Qcow2Refcounts refcounts(file, header);
    std::uint64_t bytes = std::uint64_t(header.refcount_table_clusters) * file.cluster_size();
    std::vector<std::byte> raw(bytes);
    DOMUS_TRY_VOID(read_exact(file.fd, raw, header.refcount_table_offset));
    refcounts.table_.resize(bytes / 8);
    for (std::size_t i = 0; i < refcounts.table_.size(); ++i) {
        std::uint64_t entry = load_be64(&raw[i * 8]);
        if (entry != 0 && !file.holds_cluster(entry))
            return make_error("qcow2: refcount block {} at {:#x} is unaligned or outside the file",
                              i, entry);
        refcounts.table_[i] = entry;
    }
    return refcounts;
}

std::uint64_t Qcow2Refcounts::read_entry(const Block& block, std::uint64_t index) const {
    const std::byte* p = block.data.data();
    switch (order_) {
        case 3:
            return std::uint64_t(p[index]);
        case 4:
            return load_be16(p + index * 2);
        case 5:
            return load_be32(p + index * 4);
        default:
            return load_be64(p + index * 8);
    }
}

void Qcow2Refcounts::write_entry(Block& block, std::uint64_t index, std::uint64_t value) {
    std::byte* p = block.data.data();
    switch (order_) {
        case 3:
            p[index] = std::byte(value);
            break;
        case 4:
            store_be16(p + index * 2, static_cast<std::uint16_t>(value));
            break;
        case 5:
            store_be32(p + index * 4, static_cast<std::uint32_t>(value));
            break;
        default:
            store_be64(p + index * 8, value);
            break;
    }
    if (!block.dirty) {
        block.dirty = true;
        ++dirty_blocks_;
    }
}

Result<Qcow2Refcounts::Block*> Qcow2Refcounts::block(std::uint64_t block_index) {
    if (auto found = blocks_.find(block_index); found != blocks_.end()) return &found->second;
    if (block_index >= table_.size() || table_[block_index] == 0)
        return static_cast<Block*>(nullptr);
    Block loaded{table_[block_index], std::vector<std::byte>(file_->cluster_size()), false};
    DOMUS_TRY_VOID(read_exact(file_->fd, loaded.data, loaded.host_offset));
    return &blocks_.emplace(block_index, std::move(loaded)).first->second;
}

Result<std::uint64_t> Qcow2Refcounts::get(std::uint64_t cluster_index) {
    DOMUS_TRY(found, block(cluster_index / entries_per_block()));
    if (!found) return std::uint64_t{0};
    return read_entry(*found, cluster_index % entries_per_block());
}

Result<void> Qcow2Refcounts::set(std::uint64_t cluster_index, std::uint64_t value) {
    if (order_ < 6 && value >= (1ull << (1u << order_)))
        return make_error("qcow2: refcount overflow on cluster {}", cluster_index);
    std::uint64_t block_index = cluster_index / entries_per_block();
    DOMUS_TRY(found, block(block_index));
    if (!found) {
        if (value == 0) return {};
        DOMUS_TRY(created, create_block(block_index, cluster_index));
        found = created;
    }
    write_entry(*found, cluster_index % entries_per_block(), value);
    return {};
}

std::uint64_t Qcow2Refcounts::end_cluster() const {
    return (file_->end + file_->cluster_size() - 1) >> file_->cluster_bits;
}

Result<std::uint64_t> Qcow2Refcounts::allocate() {
    const std::uint64_t per_block = entries_per_block();
    std::uint64_t cluster = free_hint_;
    for (;;) {
        std::uint64_t block_index = cluster / per_block;
        DOMUS_TRY(found, block(block_index));
        if (!found) break;  // no block: every cluster it would cover is free
        if (read_entry(*found, cluster % per_block) == 0) break;
        ++cluster;
    }
    auto host_offset = checked_mul(cluster, file_->cluster_size());
    if (!host_offset || *host_offset > kOffsetMask)
        return make_error("qcow2: image file is full (offset beyond 2^56)");
    DOMUS_TRY_VOID(set(cluster, 1));
    free_hint_ = cluster + 1;
    file_->note_cluster(*host_offset);
    return *host_offset;
}

// A new block is placed inside the range it covers, so it counts itself and needs no
// other block: that keeps allocation from recursing.
Result<Qcow2Refcounts::Block*> Qcow2Refcounts::create_block(std::uint64_t block_index,
                                                            std::uint64_t avoid_cluster) {
    if (block_index >= table_.size()) {
        DOMUS_TRY_VOID(grow_table(block_index + 1, avoid_cluster));
        if (auto found = blocks_.find(block_index); found != blocks_.end()) return &found->second;
    }
    const std::uint64_t per_block = entries_per_block();
    std::uint64_t first = block_index * per_block;
    std::uint64_t self = first == avoid_cluster ? first + 1 : first;
    Block created{self << file_->cluster_bits, std::vector<std::byte>(file_->cluster_size()),
                  false};
    write_entry(created, self - first, 1);
    created.dirty = false;
    --dirty_blocks_;
    // The block must be durable before the table points at it; otherwise a crash
    // leaves a table entry to a cluster that claims refcount 0 for itself.
    DOMUS_TRY_VOID(write_all(file_->fd, created.data, created.host_offset));
    DOMUS_TRY_VOID(sync_data(file_->fd));
    std::byte entry[8];
    store_be64(entry, created.host_offset);
    DOMUS_TRY_VOID(write_all(file_->fd, entry, table_offset_ + block_index * 8));
    table_[block_index] = created.host_offset;
    file_->note_cluster(created.host_offset);
    return &blocks_.emplace(block_index, std::move(created)).first->second;
}

// Grows the table by writing a new, larger copy (with the blocks that count it) beyond
// everything allocated, switching the header to it after a sync, then releasing the old.
Result<void> Qcow2Refcounts::grow_table(std::uint64_t min_entries, std::uint64_t avoid_cluster) {
    const std::uint64_t cluster_size = file_->cluster_size();
    const std::uint64_t per_block = entries_per_block();
    const std::uint64_t entries_per_cluster = cluster_size / 8;
    std::uint64_t entries = std::max<std::uint64_t>(min_entries, table_.size() * 2);
    std::uint64_t base = 0, block_count = 0, table_count = 0;
    for (;;) {
        table_count = (entries + entries_per_cluster - 1) / entries_per_cluster;
        if (table_count * cluster_size > kMaxRefcountTableBytes)
            return make_error("qcow2: refcount table would exceed {} bytes",
                              kMaxRefcountTableBytes);
        base = align_up(std::max({end_cluster(), free_hint_, avoid_cluster + 1}), per_block);
        block_count = (table_count + per_block - 1) / (per_block - 1);
        while (block_count * per_block < block_count + table_count)
            ++block_count;
        std::uint64_t last_block_index = base / per_block + block_count - 1;
        if (last_block_index < table_count * entries_per_cluster) break;
        entries = last_block_index + 1;
    }
    entries = table_count * entries_per_cluster;

    std::vector<Block> new_blocks(block_count);
    for (std::uint64_t j = 0; j < block_count; ++j) {
        new_blocks[j].host_offset = (base + j * per_block) << file_->cluster_bits;
        new_blocks[j].data.resize(cluster_size);
    }
    for (std::uint64_t c = base; c < base + block_count + table_count; ++c) {
        Block& b = new_blocks[(c - base) / per_block];
        write_entry(b, (c - base) % per_block, 1);
    }
    std::vector<std::uint64_t> new_table = table_;
    new_table.resize(entries, 0);
    for (std::uint64_t j = 0; j < block_count; ++j)
        new_table[base / per_block + j] = new_blocks[j].host_offset;
    std::vector<std::byte> raw(table_count * cluster_size);
    for (std::size_t i = 0; i < new_table.size(); ++i)
        store_be64(&raw[i * 8], new_table[i]);

    std::uint64_t new_table_offset = (base + block_count) << file_->cluster_bits;
    for (auto& b : new_blocks) {
        DOMUS_TRY_VOID(write_all(file_->fd, b.data, b.host_offset));
        b.dirty = false;
        --dirty_blocks_;
    }
    DOMUS_TRY_VOID(write_all(file_->fd, raw, new_table_offset));
    DOMUS_TRY_VOID(sync_data(file_->fd));
    std::byte field[12];
    store_be64(field, new_table_offset);
    store_be32(field + 8, static_cast<std::uint32_t>(table_count));
    DOMUS_TRY_VOID(write_all(file_->fd, field, kRefcountTableOffsetField));
    DOMUS_TRY_VOID(sync_data(file_->fd));

    std::uint64_t old_offset = table_offset_;
    std::uint32_t old_clusters = table_clusters_;
    table_ = std::move(new_table);
    table_offset_ = new_table_offset;
    table_clusters_ = static_cast<std::uint32_t>(table_count);
    for (std::uint64_t j = 0; j < block_count; ++j)
        blocks_.emplace(base / per_block + j, std::move(new_blocks[j]));
    file_->note_cluster((base + block_count + table_count - 1) << file_->cluster_bits);
    // The header no longer points at the old table: its clusters can go.
    for (std::uint32_t i = 0; i < old_clusters; ++i) {
        std::uint64_t cluster = (old_offset >> file_->cluster_bits) + i;
        DOMUS_TRY(count, get(cluster));
        if (count > 0) DOMUS_TRY_VOID(set(cluster, count - 1));
        free_hint_ = std::min(free_hint_, cluster);
    }
    return {};
}

Result<void> Qcow2Refcounts::apply_releases() {
    for (std::uint64_t host_offset : pending_release_) {
        std::uint64_t cluster = host_offset >> file_->cluster_bits;
        DOMUS_TRY(count, get(cluster));
        if (count == 0)
            return make_error("qcow2: refcount underflow on cluster at {:#x}", host_offset);
        DOMUS_TRY_VOID(set(cluster, count - 1));
        if (count == 1) free_hint_ = std::min(free_hint_, cluster);
    }
    pending_release_.clear();
    return {};
}

Result<void> Qcow2Refcounts::write_dirty() {
    for (auto& [index, b] : blocks_) {
        if (!b.dirty) continue;
        DOMUS_TRY_VOID(write_all(file_->fd, b.data, b.host_offset));
        b.dirty = false;
        --dirty_blocks_;
    }
    return {};
}

}  // namespace domus::storage
