// Tests for monitor/page_tables: the boot identity map, walked with translate() as the
// CPU would, for memory sizes from the minimum to the maximum.
#include "monitor/page_tables.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "monitor/layout.hpp"

namespace domus::monitor {
namespace {

constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::uint64_t kGiB = 1ull << 30;
using Addresses = std::initializer_list<std::uint64_t>;

// The tables for `memory_size`, placed at the top of memory as Layout places them.
struct Tables {
    explicit Tables(std::uint64_t memory_size)
        : memory_size(memory_size),
          frames(page_table_frames_for(memory_size)),
          gpa(memory_size - frames * kPageSize),
          bytes(frames * kPageSize) {}

    std::optional<std::uint64_t> translate(std::uint64_t virt) const {
        return monitor::translate(bytes, gpa, virt);
    }

    std::uint64_t memory_size;
    std::uint64_t frames;
    std::uint64_t gpa;
    std::vector<std::byte> bytes;
};

TEST(PageTableFrames, IsPml4PlusPdptPlusOneDirectoryPerGiB) {
    EXPECT_EQ(page_table_frames_for(4 * kMiB), 3u);
    EXPECT_EQ(page_table_frames_for(kGiB), 3u);
    EXPECT_EQ(page_table_frames_for(kGiB + 2 * kMiB), 4u);
    EXPECT_EQ(page_table_frames_for(3 * kGiB), 5u);
    EXPECT_EQ(page_table_frames_for(64 * kGiB), 66u);
}

class IdentityMap : public ::testing::TestWithParam<std::uint64_t> {
protected:
    void SetUp() override { ASSERT_TRUE(build_identity_map(tables.bytes, tables.gpa, size)); }
    std::uint64_t size = GetParam();
    Tables tables{GetParam()};
};

TEST_P(IdentityMap, MapsEveryLargePageToItself) {
    for (std::uint64_t page = kImageBase; page < size; page += kLargePageSize) {
        for (std::uint64_t offset : Addresses{0, 0x1234, kLargePageSize - 1}) {
            ASSERT_EQ(tables.translate(page + offset), page + offset) << std::hex << page + offset;
        }
    }
}

TEST_P(IdentityMap, LeavesTheFirstTwoMiBUnmapped) {
    for (std::uint64_t virt : Addresses{0, 8, 0x1000, kMiB, kImageBase - 1}) {
        EXPECT_EQ(tables.translate(virt), std::nullopt) << std::hex << virt;
    }
}

TEST_P(IdentityMap, LeavesEverythingPastMemoryUnmapped) {
    for (std::uint64_t virt : Addresses{size, size + 1, size + kLargePageSize, size + kGiB,
                                        65 * kGiB, 511 * kGiB, 512 * kGiB, (1ull << 47) - 1}) {
        EXPECT_EQ(tables.translate(virt), std::nullopt) << std::hex << virt;
    }
}

TEST_P(IdentityMap, LeavesTheUpperHalfUnmapped) {
    for (std::uint64_t virt :
         Addresses{1ull << 47, 0xffff'8000'0000'0000ull, 0xffff'ffff'8000'0000ull,
                   0xffff'8000'0000'0000ull + kImageBase, ~0ull}) {
        EXPECT_EQ(tables.translate(virt), std::nullopt) << std::hex << virt;
    }
}

TEST_P(IdentityMap, MapsTheTablesThemselves) {
    EXPECT_EQ(tables.translate(tables.gpa), tables.gpa);
    EXPECT_EQ(tables.translate(size - 1), size - 1);
}

TEST_P(IdentityMap, RejectsABufferOnePageShort) {
    std::vector<std::byte> small((tables.frames - 1) * kPageSize);
    EXPECT_FALSE(build_identity_map(small, tables.gpa, size));
    std::vector<std::byte> one_byte_short(tables.frames * kPageSize - 1);
    EXPECT_FALSE(build_identity_map(one_byte_short, tables.gpa, size));
}

TEST_P(IdentityMap, TranslateStaysInsideTruncatedTables) {
    // A walk that leaves the buffer reports "unmapped" instead of reading past it.
    std::span<const std::byte> pml4_only(tables.bytes.data(), kPageSize);
    EXPECT_EQ(translate(pml4_only, tables.gpa, kImageBase), std::nullopt);
    EXPECT_EQ(translate(tables.bytes, tables.gpa + kPageSize, kImageBase), std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(Sizes, IdentityMap,
                         ::testing::Values(4 * kMiB, 6 * kMiB, kGiB, kGiB + 2 * kMiB, 3 * kGiB,
                                           64 * kGiB),
                         [](const auto& info) { return std::to_string(info.param >> 20) + "MiB"; });

TEST(BuildIdentityMap, RejectsMoreThanOnePdptCanMap) {
    Tables tables(513 * kGiB);
    EXPECT_FALSE(build_identity_map(tables.bytes, tables.gpa, tables.memory_size));
}

// ---- TSS --------------------------------------------------------------------------

// Whether the CPU lets CPL3 use `size` bytes of ports from `port`: every bit clear, and
// the bytes it reads (two from the port's byte) inside the limit.
bool tss_allows(std::span<const std::byte> tss, std::uint64_t limit, std::uint32_t port,
                std::uint32_t size) {
    std::uint16_t base;
    std::memcpy(&base, tss.data() + 102, sizeof(base));
    std::uint64_t first = base + port / 8;
    if (first + 1 > limit) return false;
    std::uint16_t bits;
    std::memcpy(&bits, tss.data() + first, sizeof(bits));
    std::uint16_t wanted = std::uint16_t(((1u << size) - 1) << (port % 8));
    return (bits & wanted) == 0;
}

TEST(BuildTss, AllowsEveryPortUpTo0xffff) {
    std::vector<std::byte> tss(kTssPages * kPageSize, std::byte{0x5a});
    ASSERT_TRUE(build_tss(tss));
    for (std::uint32_t port : {0u, 0x80u, 0x7cb8u, 0x7cc0u, 0x8000u, 0xfff0u, 0xfffcu})
        EXPECT_TRUE(tss_allows(tss, kTssLimit, port, 4)) << std::hex << port;
    EXPECT_TRUE(tss_allows(tss, kTssLimit, 0xffff, 1));
    EXPECT_EQ(tss[kTssLimit], std::byte{0xff});  // the closing byte
}

TEST(BuildTss, RejectsABufferWithoutRoomForTheClosingByte) {
    std::vector<std::byte> tss(kTssLimit);
    EXPECT_FALSE(build_tss(tss));
}

}  // namespace

}  // namespace domus::monitor
