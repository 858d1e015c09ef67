// qcow2 header encoding and parsing: round trip, extensions, writable_problem().
#include "storage/qcow2_format.hpp"

#include <gtest/gtest.h>

namespace domus::storage {
namespace {

Qcow2Header sample() {
    Qcow2Header h;
    h.size = 1ull << 30;
    h.l1_size = static_cast<std::uint32_t>(l1_entries_for(h.size, h.cluster_bits));
    h.refcount_table_offset = 0x10000;
    h.refcount_table_clusters = 1;
    h.l1_table_offset = 0x30000;
    return h;
}

TEST(Qcow2Format, RoundTripWithBacking) {
    Qcow2Header h = sample();
    h.backing_file = "../base.qcow2";
    h.backing_format = "qcow2";
    auto bytes = encode_header(h);
    ASSERT_TRUE(bytes);
    auto parsed = parse_header(*bytes, 0x40000);
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->version, 3u);
    EXPECT_EQ(parsed->size, h.size);
    EXPECT_EQ(parsed->l1_size, h.l1_size);
    EXPECT_EQ(parsed->backing_file, "../base.qcow2");
    EXPECT_EQ(parsed->backing_format, "qcow2");
    EXPECT_EQ(parsed->header_length, kHeaderLengthV3);
    EXPECT_FALSE(writable_problem(*parsed));
}

TEST(Qcow2Format, L1EntriesCoverSize) {
    EXPECT_EQ(l1_entries_for(0, 16), 0u);
    EXPECT_EQ(l1_entries_for(1, 16), 1u);
    EXPECT_EQ(l1_entries_for(512ull << 20, 16), 1u);  // one L2 table maps 512 MiB
    EXPECT_EQ(l1_entries_for((512ull << 20) + 1, 16), 2u);
    EXPECT_EQ(l1_entries_for(32 << 10, 9), 1u);  // 512 B clusters: 32 KiB per table
}

TEST(Qcow2Format, WritableProblems) {
    Qcow2Header h = sample();
    h.incompatible_features = kIncompatDirty;
    EXPECT_TRUE(writable_problem(h));
    h.incompatible_features = kIncompatCorrupt;
    EXPECT_TRUE(writable_problem(h));
    h.incompatible_features = 0;
    h.nb_snapshots = 1;
    EXPECT_TRUE(writable_problem(h));
    h.nb_snapshots = 0;
    h.version = 2;
    EXPECT_TRUE(writable_problem(h));
}

TEST(Qcow2Format, TruncatedHeaderIsAnError) {
    auto bytes = encode_header(sample());
    ASSERT_TRUE(bytes);
    EXPECT_FALSE(parse_header(std::span<const std::byte>(*bytes).first(50), 50));
    EXPECT_FALSE(parse_header(std::span<const std::byte>(*bytes).first(90), 90));
}

}  // namespace
}  // namespace domus::storage
