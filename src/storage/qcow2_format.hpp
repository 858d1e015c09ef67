// The qcow2 on-disk format (docs/interop/qcow2.txt in QEMU): header fields, header
// extensions, table entry bits, and the parser that validates a header before any
// offset in it is trusted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/result.hpp"

namespace domus::storage {

inline constexpr std::uint32_t kQcow2Magic = 0x514649fb;  // "QFI\xfb"

// Header extension types.
inline constexpr std::uint32_t kExtEnd = 0;
inline constexpr std::uint32_t kExtBackingFormat = 0xe2792aca;
inline constexpr std::uint32_t kExtFeatureTable = 0x6803f857;
inline constexpr std::uint32_t kExtCryptoHeader = 0x0537be77;
inline constexpr std::uint32_t kExtDataFile = 0x44415441;

// incompatible_features bits.
inline constexpr std::uint64_t kIncompatDirty = 1ull << 0;
inline constexpr std::uint64_t kIncompatCorrupt = 1ull << 1;
inline constexpr std::uint64_t kIncompatDataFile = 1ull << 2;
inline constexpr std::uint64_t kIncompatCompression = 1ull << 3;
inline constexpr std::uint64_t kIncompatExtendedL2 = 1ull << 4;

// L1 and L2 entry bits.
inline constexpr std::uint64_t kOflagCopied = 1ull << 63;            // refcount is exactly 1
inline constexpr std::uint64_t kOflagCompressed = 1ull << 62;        // L2 only
inline constexpr std::uint64_t kOflagZero = 1ull << 0;               // L2 only, version 3
inline constexpr std::uint64_t kOffsetMask = 0x00fffffffffffe00ull;  // bits 9..55

inline constexpr std::uint32_t kMinClusterBits = 9;   // 512 B
inline constexpr std::uint32_t kMaxClusterBits = 21;  // 2 MiB
inline constexpr std::uint32_t kDefaultClusterBits = 16;
inline constexpr std::uint32_t kDefaultRefcountOrder = 4;  // 16-bit refcounts
inline constexpr std::uint32_t kHeaderLengthV3 = 112;      // with the compression type byte
// QEMU's own limits, so that a hostile header cannot make us allocate gigabytes.
inline constexpr std::uint64_t kMaxL1Bytes = 32ull << 20;
inline constexpr std::uint64_t kMaxRefcountTableBytes = 8ull << 20;
inline constexpr std::uint32_t kMaxBackingNameLength = 1023;

// Header field offsets used when rewriting single fields in place.
inline constexpr std::uint64_t kRefcountTableOffsetField = 48;  // + clusters at 56
inline constexpr std::uint64_t kAutoclearField = 88;

struct Qcow2Header {
    std::uint32_t version = 3;
    std::uint64_t backing_file_offset = 0;
    std::uint32_t backing_file_size = 0;
    std::uint32_t cluster_bits = kDefaultClusterBits;
    std::uint64_t size = 0;
    std::uint32_t crypt_method = 0;
    std::uint32_t l1_size = 0;
    std::uint64_t l1_table_offset = 0;
    std::uint64_t refcount_table_offset = 0;
    std::uint32_t refcount_table_clusters = 0;
    std::uint32_t nb_snapshots = 0;
    std::uint64_t snapshots_offset = 0;
    std::uint64_t incompatible_features = 0;
    std::uint64_t compatible_features = 0;
    std::uint64_t autoclear_features = 0;
    std::uint32_t refcount_order = kDefaultRefcountOrder;
    std::uint32_t header_length = kHeaderLengthV3;

    // From the header extensions and the backing name area.
    std::string backing_file;
    std::string backing_format;  // empty: probe
    bool has_crypto_header = false;
    bool has_data_file = false;

    std::uint64_t cluster_size() const { return 1ull << cluster_bits; }
    std::uint32_t l2_bits() const { return cluster_bits - 3; }  // 8-byte entries
    std::uint64_t l2_entries() const { return 1ull << l2_bits(); }
};

// Number of L1 entries needed to map `size` bytes with the given cluster size.
std::uint64_t l1_entries_for(std::uint64_t size, std::uint32_t cluster_bits);

// Parses and validates the header in `cluster0` (the first cluster of the file, or as
// much of it as exists) against the file size. Every offset the header holds is checked
// for alignment and for lying inside the file; features we cannot honour are errors.
// Checks that depend on the open mode (dirty, corrupt, v2, snapshots) are left to
// writable_problem().
Result<Qcow2Header> parse_header(std::span<const std::byte> cluster0, std::uint64_t file_size);

// Why the image may be read but not written; nullopt when writing is fine.
std::optional<std::string> writable_problem(const Qcow2Header& header);

// Serializes a version 3 header with a backing format extension (when backing_format is
// set), an end marker and the backing name, into one cluster-sized buffer.
Result<std::vector<std::byte>> encode_header(const Qcow2Header& header);

inline std::uint32_t load_be32(const std::byte* p) {
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
           std::uint32_t(p[3]);
}
inline std::uint64_t load_be64(const std::byte* p) {
    return (std::uint64_t(load_be32(p)) << 32) | load_be32(p + 4);
}
inline std::uint16_t load_be16(const std::byte* p) {
    return static_cast<std::uint16_t>((std::uint32_t(p[0]) << 8) | std::uint32_t(p[1]));
}
inline void store_be16(std::byte* p, std::uint16_t v) {
    p[0] = std::byte(v >> 8);
    p[1] = std::byte(v);
}
inline void store_be32(std::byte* p, std::uint32_t v) {
    for (int i = 0; i < 4; ++i)
        p[i] = std::byte(v >> (24 - 8 * i));
}
inline void store_be64(std::byte* p, std::uint64_t v) {
    store_be32(p, static_cast<std::uint32_t>(v >> 32));
    store_be32(p + 4, static_cast<std::uint32_t>(v));
}

}  // namespace domus::storage
