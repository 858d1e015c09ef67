// create_image(): lays out header, refcount table, refcount blocks and L1 table the way
// QEMU does (header | refcount table | refcount blocks | L1), all with refcount 1.
#include "storage/image_create.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <bit>
#include <cctype>
#include <vector>

#include "base/checked.hpp"
#include "base/fd.hpp"
#include "storage/file_io.hpp"
#include "storage/image_lock.hpp"
#include "storage/qcow2_backing.hpp"
#include "storage/qcow2_format.hpp"

namespace domus::storage {
namespace {

// A file being written from scratch, locked like a writable image for as long as that
// takes (as qemu-img create does).
struct NewFile {
    Fd fd;
    ImageLock lock;
};

// Truncated only once locked: an existing image a domain uses is refused, not wiped.
Result<NewFile> create_file(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd) return errno_error("create " + path);
    DOMUS_TRY(lock, ImageLock::acquire(fd.get(), path, kWriterLock));
    if (::ftruncate(fd.get(), 0) != 0) return errno_error("truncate " + path);
    return NewFile{std::move(fd), std::move(lock)};
}

Result<void> create_qcow2(const std::string& path, std::uint64_t size, std::uint32_t cluster_bits,
                          const std::string& backing_name, const std::string& backing_format) {
    const std::uint64_t cluster_size = 1ull << cluster_bits;
    const std::uint64_t per_block = cluster_size / 2;  // 16-bit refcounts
    std::uint64_t l1_entries = l1_entries_for(size, cluster_bits);
    if (l1_entries * 8 > kMaxL1Bytes)
        return make_error("{}: size {} needs an L1 table over {} bytes; use larger clusters", path,
                          size, kMaxL1Bytes);
    std::uint64_t l1_clusters = (l1_entries * 8 + cluster_size - 1) / cluster_size;
    std::uint64_t table_clusters = 1, block_count = 1;
    for (;;) {
        std::uint64_t total = 1 + table_clusters + block_count + l1_clusters;
        std::uint64_t blocks = (total + per_block - 1) / per_block;
        std::uint64_t tables = (blocks * 8 + cluster_size - 1) / cluster_size;
        if (blocks == block_count && tables == table_clusters) break;
        block_count = blocks;
        table_clusters = tables;
    }
    std::uint64_t total = 1 + table_clusters + block_count + l1_clusters;

    Qcow2Header h;
    h.cluster_bits = cluster_bits;
    h.size = size;
    h.l1_size = static_cast<std::uint32_t>(l1_entries);
    h.refcount_table_offset = cluster_size;
    h.refcount_table_clusters = static_cast<std::uint32_t>(table_clusters);
    h.l1_table_offset = (1 + table_clusters + block_count) * cluster_size;
    h.backing_file = backing_name;
    h.backing_format = backing_format;
    DOMUS_TRY(header, encode_header(h));

    std::vector<std::byte> table(table_clusters * cluster_size);
    std::vector<std::byte> blocks(block_count * cluster_size);
    for (std::uint64_t b = 0; b < block_count; ++b)
        store_be64(&table[b * 8], (1 + table_clusters + b) * cluster_size);
    for (std::uint64_t c = 0; c < total; ++c)
        store_be16(&blocks[c * 2], 1);

    DOMUS_TRY(file, create_file(path));
    const Fd& fd = file.fd;
    DOMUS_TRY_VOID(write_all(fd.get(), header, 0));
    DOMUS_TRY_VOID(write_all(fd.get(), table, cluster_size));
    DOMUS_TRY_VOID(write_all(fd.get(), blocks, (1 + table_clusters) * cluster_size));
    if (::ftruncate(fd.get(), static_cast<off_t>(total * cluster_size)) != 0)
        return errno_error("ftruncate " + path);
    return sync_data(fd.get());
}

}  // namespace

Result<std::uint64_t> parse_size(const std::string& text) {
    std::size_t digits = 0;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits])))
        ++digits;
    if (digits == 0 || digits > 19) return make_error("invalid size '{}'", text);
    std::uint64_t value = std::stoull(text.substr(0, digits));
    std::string unit = text.substr(digits);
    if (unit == "B" || unit == "b") unit.clear();
    int shift = 0;
    if (!unit.empty()) {
        static const std::string kUnits = "KMGTPE";
        char u = static_cast<char>(std::toupper(static_cast<unsigned char>(unit[0])));
        auto at = kUnits.find(u);
        bool suffix_ok = unit.size() == 1 || unit.substr(1) == "iB" || unit.substr(1) == "B";
        if (at == std::string::npos || !suffix_ok)
            return make_error("invalid size unit in '{}'", text);
        shift = 10 * static_cast<int>(at + 1);
    }
    auto scaled = checked_mul(value, 1ull << shift);
    if (!scaled || *scaled > (1ull << 62)) return make_error("size '{}' is too large", text);
    return *scaled;
}

Result<void> create_image(const std::string& path, std::optional<std::uint64_t> size, Format format,
                          std::optional<std::string> backing_path, std::uint64_t cluster_size,
                          Format backing_format) {
    if (format == Format::autodetect) format = Format::qcow2;
    if (format == Format::raw) {
        if (backing_path) return make_error("raw images cannot have a backing file");
        if (!size) return make_error("{}: a size is required", path);
        DOMUS_TRY(file, create_file(path));
        const Fd& fd = file.fd;
        if (::ftruncate(fd.get(), static_cast<off_t>(align_up(*size, kSectorSize))) != 0)
            return errno_error("ftruncate " + path);
        return sync_data(fd.get());
    }
    if (!std::has_single_bit(cluster_size) || cluster_size < (1u << kMinClusterBits) ||
        cluster_size > (1u << kMaxClusterBits))
        return make_error("cluster size {} must be a power of two from 512 B to 2 MiB",
                          cluster_size);
    auto cluster_bits = static_cast<std::uint32_t>(std::countr_zero(cluster_size));

    std::string backing_format_name;
    if (backing_path) {
        if (backing_path->empty()) return make_error("empty backing file name");
        std::string resolved = resolve_backing_path(path, *backing_path);
        // Only its size and format: a domain may be writing it (a snapshot's overlay).
        auto backing = inspect_image(resolved, backing_format);
        if (!backing)
            return make_error("backing file {}: {}", *backing_path, backing.error().message);
        if (backing_format == Format::autodetect) {
            DOMUS_TRY(probed, probe_format(resolved));
            backing_format = probed;
        }
        backing_format_name = format_name(backing_format);
        if (!size) size = (*backing)->size_bytes();
    }
    if (!size) return make_error("{}: a size is required without a backing file", path);
    if (*size > (1ull << 62)) return make_error("{}: size {} is too large", path, *size);
    return create_qcow2(path, align_up(*size, kSectorSize), cluster_bits, backing_path.value_or(""),
                        backing_format_name);
}

}  // namespace domus::storage
