// Identity-map page-table builder (x86-64 4-level paging, 2 MiB leaves) and the TSS.
#include "monitor/page_tables.hpp"

#include <cstring>

#include "monitor/layout.hpp"

namespace domus::monitor {
namespace {

constexpr std::uint64_t kPresent = 1ull << 0;
constexpr std::uint64_t kWritable = 1ull << 1;
constexpr std::uint64_t kUser = 1ull << 2;
constexpr std::uint64_t kLarge = 1ull << 7;
constexpr std::uint64_t kAddressMask = 0x000F'FFFF'FFFF'F000ull;
constexpr std::uint64_t kGiB = 1ull << 30;

std::uint64_t* entries(std::span<std::byte> tables, std::uint64_t frame) {
    return reinterpret_cast<std::uint64_t*>(tables.data() + frame * kPageSize);
}

std::uint64_t load(std::span<const std::byte> tables, std::uint64_t tables_gpa, std::uint64_t gpa,
                   bool& ok) {
    if (gpa < tables_gpa || gpa - tables_gpa + 8 > tables.size()) {
        ok = false;
        return 0;
    }
    std::uint64_t value;
    std::memcpy(&value, tables.data() + (gpa - tables_gpa), 8);
    return value;
}

}  // namespace

std::uint64_t page_table_frames_for(std::uint64_t memory_size) noexcept {
    return 2 + (memory_size + kGiB - 1) / kGiB;
}

bool build_identity_map(std::span<std::byte> tables, std::uint64_t tables_gpa,
                        std::uint64_t memory_size) noexcept {
    std::uint64_t frames = page_table_frames_for(memory_size);
    if (tables.size() < frames * kPageSize || memory_size > 512 * kGiB) return false;
    std::memset(tables.data(), 0, frames * kPageSize);
    constexpr std::uint64_t kFlags = kPresent | kWritable | kUser;
    auto* pml4 = entries(tables, 0);
    auto* pdpt = entries(tables, 1);
    pml4[0] = (tables_gpa + kPageSize) | kFlags;
    for (std::uint64_t gib = 0; gib < frames - 2; ++gib) {
        std::uint64_t pd_frame = 2 + gib;
        pdpt[gib] = (tables_gpa + pd_frame * kPageSize) | kFlags;
        auto* pd = entries(tables, pd_frame);
        for (std::uint64_t i = 0; i < 512; ++i) {
            std::uint64_t phys = gib * kGiB + i * kLargePageSize;
            if (phys < kImageBase || phys >= memory_size) continue;
            pd[i] = phys | kFlags | kLarge;
        }
    }
    return true;
}

std::optional<std::uint64_t> translate(std::span<const std::byte> tables, std::uint64_t tables_gpa,
                                       std::uint64_t virt) noexcept {
    if (virt >> 47) return std::nullopt;  // lower half only
    bool ok = true;
    std::uint64_t table = tables_gpa;
    for (int level = 3; level >= 1; --level) {
        std::uint64_t index = (virt >> (12 + 9 * level)) & 511;
        std::uint64_t entry = load(tables, tables_gpa, table + index * 8, ok);
        if (!ok || !(entry & kPresent) || !(entry & kUser)) return std::nullopt;
        if (level == 1 && (entry & kLarge))
            return (entry & kAddressMask & ~(kLargePageSize - 1)) | (virt & (kLargePageSize - 1));
        if (level == 1) return std::nullopt;  // 4 KiB leaves are never built
        table = entry & kAddressMask;
    }
    return std::nullopt;
}

bool build_tss(std::span<std::byte> tss) noexcept {
    if (tss.size() < kTssLimit + 1) return false;
    std::memset(tss.data(), 0, kTssLimit + 1);    // a clear bit allows its port
    constexpr std::size_t kIoMapBaseField = 102;  // 16 bits: where the bitmap starts
    const std::uint16_t base = kTssIoBitmapOffset;
    std::memcpy(tss.data() + kIoMapBaseField, &base, sizeof(base));
    tss[kTssLimit] = std::byte{0xff};
    return true;
}

}  // namespace domus::monitor
