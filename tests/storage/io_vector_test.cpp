// IoCursor and the flat copies: pieces split exactly at the requested edges, never
// past the end, and gather/scatter/zero touch exactly the pieces' bytes.
#include "storage/io_vector.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstring>

namespace domus::storage {
namespace {

TEST(IoCursor, TakesRangesAcrossAndInsidePieces) {
    std::array<std::byte, 64> memory{};
    const iovec pieces[] = {{memory.data(), 10}, {memory.data() + 20, 6}, {memory.data() + 40, 16}};
    IoCursor cursor(pieces);
    EXPECT_EQ(cursor.remaining(), 32u);
    std::vector<iovec> out;
    cursor.take(4, out);  // inside the first piece
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].iov_base, memory.data());
    EXPECT_EQ(out[0].iov_len, 4u);
    out.clear();
    cursor.take(14, out);  // rest of the first, all of the second, 2 of the third
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].iov_base, memory.data() + 4);
    EXPECT_EQ(out[0].iov_len, 6u);
    EXPECT_EQ(out[1].iov_base, memory.data() + 20);
    EXPECT_EQ(out[1].iov_len, 6u);
    EXPECT_EQ(out[2].iov_base, memory.data() + 40);
    EXPECT_EQ(out[2].iov_len, 2u);
    EXPECT_EQ(cursor.remaining(), 14u);
    out.clear();
    cursor.take(100, out);  // more than is left: just the rest
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].iov_base, memory.data() + 42);
    EXPECT_EQ(out[0].iov_len, 14u);
    EXPECT_EQ(cursor.remaining(), 0u);
    out.clear();
    cursor.take(8, out);
    EXPECT_TRUE(out.empty());
}

TEST(IoVector, GatherScatterAndZeroTouchOnlyThePieces) {
    std::array<std::byte, 32> memory;
    memory.fill(std::byte{0x11});
    const iovec pieces[] = {{memory.data() + 2, 3}, {memory.data() + 10, 5}};
    EXPECT_EQ(io_bytes(pieces), 8u);
    const std::byte in[8] = {std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4},
                             std::byte{5}, std::byte{6}, std::byte{7}, std::byte{8}};
    io_scatter(in, pieces);
    EXPECT_EQ(memory[1], std::byte{0x11});
    EXPECT_EQ(memory[2], std::byte{1});
    EXPECT_EQ(memory[4], std::byte{3});
    EXPECT_EQ(memory[5], std::byte{0x11});
    EXPECT_EQ(memory[10], std::byte{4});
    EXPECT_EQ(memory[14], std::byte{8});
    EXPECT_EQ(memory[15], std::byte{0x11});
    std::byte out[8];
    io_gather(pieces, out);
    EXPECT_EQ(std::memcmp(in, out, 8), 0);
    io_zero(pieces);
    EXPECT_EQ(memory[2], std::byte{0});
    EXPECT_EQ(memory[14], std::byte{0});
    EXPECT_EQ(memory[15], std::byte{0x11});
    EXPECT_EQ(memory[9], std::byte{0x11});
}

TEST(IoAppend, PiecesBackToBackInMemoryBecomeOne) {
    std::byte memory[64];
    std::vector<iovec> pieces;
    io_append(pieces, memory, 16);
    io_append(pieces, memory + 16, 16);  // continues the first: merged
    io_append(pieces, memory + 40, 8);   // a gap: a new piece
    io_append(pieces, memory + 48, 16);  // continues that one
    io_append(pieces, memory, 8);        // back to the start: a new piece, not merged
    ASSERT_EQ(pieces.size(), 3u);
    EXPECT_EQ(pieces[0].iov_base, memory);
    EXPECT_EQ(pieces[0].iov_len, 32u);
    EXPECT_EQ(pieces[1].iov_base, memory + 40);
    EXPECT_EQ(pieces[1].iov_len, 24u);
    EXPECT_EQ(pieces[2].iov_base, memory);
    EXPECT_EQ(pieces[2].iov_len, 8u);
    EXPECT_EQ(io_bytes(pieces), 64u);
}

}  // namespace
}  // namespace domus::storage
