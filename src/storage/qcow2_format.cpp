// qcow2 header parsing (with every check a hostile or damaged file needs) and encoding.
#include "storage/qcow2_format.hpp"

#include <cstring>

#include "base/checked.hpp"

namespace domus::storage {
namespace {

constexpr std::size_t kHeaderV2Length = 72;
constexpr std::size_t kHeaderV3MinLength = 104;

Result<void> check_table(const char* what, std::uint64_t offset, std::uint64_t bytes,
                         std::uint64_t cluster_size, std::uint64_t file_size) {
    if (offset % cluster_size != 0)
        return make_error("qcow2: {} offset {:#x} is not cluster-aligned", what, offset);
    if (offset == 0) return make_error("qcow2: {} overlaps the header", what);
    if (!range_within(offset, bytes, file_size))
        return make_error("qcow2: {} [{:#x}, +{:#x}) lies outside the file ({:#x} bytes)", what,
                          offset, bytes, file_size);
    return {};
}

Result<void> parse_extensions(std::span<const std::byte> area, Qcow2Header& header) {
    std::size_t at = 0;
    while (at + 8 <= area.size()) {
        std::uint32_t type = load_be32(&area[at]);
        std::uint32_t length = load_be32(&area[at + 4]);
        at += 8;
        if (type == kExtEnd) return {};
        if (length > area.size() - at)
            return make_error("qcow2: header extension {:#x} runs past the header cluster", type);
        auto data = area.subspan(at, length);
        switch (type) {
            case kExtBackingFormat:
                header.backing_format.assign(reinterpret_cast<const char*>(data.data()),
                                             data.size());
                break;
            case kExtCryptoHeader:
                header.has_crypto_header = true;
                break;
            case kExtDataFile:
                header.has_data_file = true;
                break;
            default:
                break;  // feature names, bitmaps: informational for us
        }
        at += (length + 7) & ~std::size_t{7};
    }
    return {};  // no end marker before the cluster ends: tolerated, like QEMU
}

std::string describe_incompatible(std::uint64_t bits) {
    std::string out;
    auto add = [&](const char* name) { out += out.empty() ? name : std::string(", ") + name; };
    if (bits & kIncompatDataFile) add("external data file");
    if (bits & kIncompatCompression) add("non-zlib compression type");
    if (bits & kIncompatExtendedL2) add("extended L2 entries (subclusters)");
    std::uint64_t known = kIncompatDirty | kIncompatCorrupt | kIncompatDataFile |
                          kIncompatCompression | kIncompatExtendedL2;
    if (bits & ~known) add(fmt::format("unknown bits {:#x}", bits & ~known).c_str());
    return out;
}

}  // namespace

std::uint64_t l1_entries_for(std::uint64_t size, std::uint32_t cluster_bits) {
    std::uint32_t shift = cluster_bits + (cluster_bits - 3);
    return (size + (1ull << shift) - 1) >> shift;
}

Result<Qcow2Header> parse_header(std::span<const std::byte> cluster0, std::uint64_t file_size) {
    if (cluster0.size() < kHeaderV2Length) return make_error("qcow2: file too small for a header");
    const std::byte* p = cluster0.data();
    if (load_be32(p) != kQcow2Magic) return make_error("qcow2: bad magic");
    Qcow2Header h;
    h.version = load_be32(p + 4);
    if (h.version != 2 && h.version != 3)
        return make_error("qcow2: unsupported version {}", h.version);
    h.backing_file_offset = load_be64(p + 8);
    h.backing_file_size = load_be32(p + 16);
    h.cluster_bits = load_be32(p + 20);
    h.size = load_be64(p + 24);
    h.crypt_method = load_be32(p + 32);
    h.l1_size = load_be32(p + 36);
    h.l1_table_offset = load_be64(p + 40);
    h.refcount_table_offset = load_be64(p + 48);
    h.refcount_table_clusters = load_be32(p + 56);
    h.nb_snapshots = load_be32(p + 60);
    h.snapshots_offset = load_be64(p + 64);
    if (h.cluster_bits < kMinClusterBits || h.cluster_bits > kMaxClusterBits)
        return make_error("qcow2: cluster size 2^{} is outside 512 B..2 MiB", h.cluster_bits);
    const std::uint64_t cluster_size = h.cluster_size();
    if (cluster0.size() > cluster_size) cluster0 = cluster0.first(cluster_size);

    std::size_t extensions_at = kHeaderV2Length;
    if (h.version == 3) {
        if (cluster0.size() < kHeaderV3MinLength)
            return make_error("qcow2: file too small for a version 3 header");
        h.incompatible_features = load_be64(p + 72);
        h.compatible_features = load_be64(p + 80);
        h.autoclear_features = load_be64(p + 88);
        h.refcount_order = load_be32(p + 96);
        h.header_length = load_be32(p + 100);
        if (h.header_length < kHeaderV3MinLength || h.header_length > cluster0.size())
            return make_error("qcow2: header length {} is invalid", h.header_length);
        if (h.refcount_order > 6)
            return make_error("qcow2: refcount order {} is invalid", h.refcount_order);
        extensions_at = h.header_length;
    } else {
        h.header_length = kHeaderV2Length;
    }

    if (h.crypt_method != 0) return make_error("qcow2: encrypted images are not supported");
    std::string incompatible = describe_incompatible(h.incompatible_features);
    if (!incompatible.empty())
        return make_error("qcow2: unsupported incompatible features: {}", incompatible);

    DOMUS_TRY_VOID(parse_extensions(cluster0.subspan(extensions_at), h));
    if (h.has_crypto_header) return make_error("qcow2: encrypted images are not supported");
    if (h.has_data_file) return make_error("qcow2: external data files are not supported");

    // Virtual size: the L1 table must map all of it and stay under QEMU's size limit.
    std::uint64_t needed_l1 = l1_entries_for(h.size, h.cluster_bits);
    if (h.size > (1ull << 62)) return make_error("qcow2: virtual size {:#x} is too large", h.size);
    if (needed_l1 > h.l1_size)
        return make_error("qcow2: L1 table ({} entries) too small for virtual size {:#x}",
                          h.l1_size, h.size);
    if (std::uint64_t(h.l1_size) * 8 > kMaxL1Bytes)
        return make_error("qcow2: L1 table of {} entries is too large", h.l1_size);
    if (h.l1_size > 0)
        DOMUS_TRY_VOID(check_table("L1 table", h.l1_table_offset, std::uint64_t(h.l1_size) * 8,
                                   cluster_size, file_size));

    if (h.refcount_table_clusters == 0) return make_error("qcow2: the refcount table is empty");
    auto reftable_bytes = checked_mul(h.refcount_table_clusters, cluster_size);
    if (!reftable_bytes || *reftable_bytes > kMaxRefcountTableBytes)
        return make_error("qcow2: refcount table of {} clusters is too large",
                          h.refcount_table_clusters);
    DOMUS_TRY_VOID(check_table("refcount table", h.refcount_table_offset, *reftable_bytes,
                               cluster_size, file_size));
    if (h.l1_size > 0 && h.l1_table_offset < h.refcount_table_offset + *reftable_bytes &&
        h.refcount_table_offset < h.l1_table_offset + std::uint64_t(h.l1_size) * 8)
        return make_error("qcow2: L1 table and refcount table overlap");

    if (h.backing_file_offset != 0) {
        if (h.backing_file_size == 0 || h.backing_file_size > kMaxBackingNameLength)
            return make_error("qcow2: backing file name length {} is invalid", h.backing_file_size);
        if (!range_within(h.backing_file_offset, h.backing_file_size, cluster0.size()))
            return make_error("qcow2: backing file name lies outside the header cluster");
        h.backing_file.assign(reinterpret_cast<const char*>(p + h.backing_file_offset),
                              h.backing_file_size);
        if (h.backing_file.find('\0') != std::string::npos)
            return make_error("qcow2: backing file name contains a NUL byte");
    }
    return h;
}

std::optional<std::string> writable_problem(const Qcow2Header& h) {
    if (h.version == 2) return "version 2 images are supported read-only";
    if (h.incompatible_features & kIncompatCorrupt)
        return "the image is marked corrupt; repair it with 'qemu-img check -r all'";
    if (h.incompatible_features & kIncompatDirty)
        return "the image is dirty (lazy refcounts were in use); repair it with "
               "'qemu-img check -r all'";
    if (h.nb_snapshots != 0) return "images with internal snapshots are supported read-only";
    if (h.refcount_order < 3)
        return fmt::format("refcount width of {} bits is supported read-only",
                           1u << h.refcount_order);
    return std::nullopt;
}

Result<std::vector<std::byte>> encode_header(const Qcow2Header& h) {
    std::vector<std::byte> out(h.cluster_size());
    std::byte* p = out.data();
    store_be32(p, kQcow2Magic);
    store_be32(p + 4, 3);
    store_be32(p + 20, h.cluster_bits);
    store_be64(p + 24, h.size);
    store_be32(p + 32, 0);
    store_be32(p + 36, h.l1_size);
    store_be64(p + 40, h.l1_table_offset);
    store_be64(p + 48, h.refcount_table_offset);
    store_be32(p + 56, h.refcount_table_clusters);
    store_be32(p + 60, 0);
    store_be64(p + 64, 0);
    store_be64(p + 72, h.incompatible_features);
    store_be64(p + 80, h.compatible_features);
    store_be64(p + 88, h.autoclear_features);
    store_be32(p + 96, h.refcount_order);
    store_be32(p + 100, kHeaderLengthV3);
    // Byte 104: compression type 0 (zlib), then 7 bytes of padding: already zero.

    std::size_t at = kHeaderLengthV3;
    auto room = [&](std::size_t bytes) { return at + bytes <= out.size(); };
    if (!h.backing_format.empty()) {
        std::size_t padded = (h.backing_format.size() + 7) & ~std::size_t{7};
        if (!room(8 + padded)) return make_error("qcow2: backing format does not fit the header");
        store_be32(p + at, kExtBackingFormat);
        store_be32(p + at + 4, static_cast<std::uint32_t>(h.backing_format.size()));
        std::memcpy(p + at + 8, h.backing_format.data(), h.backing_format.size());
        at += 8 + padded;
    }
    if (!room(8)) return make_error("qcow2: header extensions do not fit the header cluster");
    at += 8;  // end marker: type 0, length 0
    if (!h.backing_file.empty()) {
        if (h.backing_file.size() > kMaxBackingNameLength || !room(h.backing_file.size()))
            return make_error("qcow2: backing file name is too long");
        store_be64(p + 8, at);
        store_be32(p + 16, static_cast<std::uint32_t>(h.backing_file.size()));
        std::memcpy(p + at, h.backing_file.data(), h.backing_file.size());
    }
    return out;
}

}  // namespace domus::storage
