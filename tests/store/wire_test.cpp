// Tests for store/wire: framing, incremental decoding, oversize rejection,
// argument splitting, reply builders, DIRECTORY_PART chunks, and a randomized
// decoder run over hostile bytes.
#include "store/wire.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

namespace domus::store {
namespace {

std::uint32_t next32(std::mt19937& rng) {
    return static_cast<std::uint32_t>(rng());
}

TEST(WireTest, EncodeLayout) {
    std::string bytes = encode(Message{XS_READ, 0x01020304, 9, std::string("/a\0", 3)});
    ASSERT_EQ(bytes.size(), 19u);
    xsd_sockmsg header;
    std::memcpy(&header, bytes.data(), sizeof(header));
    EXPECT_EQ(header.type, static_cast<std::uint32_t>(XS_READ));
    EXPECT_EQ(header.req_id, 0x01020304u);
    EXPECT_EQ(header.tx_id, 9u);
    EXPECT_EQ(header.len, 3u);
}

TEST(WireTest, AbiNumbers) {
    EXPECT_EQ(XS_CONTROL, 0);
    EXPECT_EQ(XS_DEBUG, 0);
    EXPECT_EQ(XS_WATCH_EVENT, 15);
    EXPECT_EQ(XS_ERROR, 16);
    EXPECT_EQ(XS_SET_TARGET, 19);
    EXPECT_EQ(XS_RESET_WATCHES, 21);
    EXPECT_EQ(XS_DIRECTORY_PART, 22);
    EXPECT_EQ(XENSTORE_PAYLOAD_MAX, 4096);
    EXPECT_EQ(error_name(XsError::TooBig), "E2BIG");
    EXPECT_EQ(error_name(XsError::Again), "EAGAIN");
    EXPECT_EQ(static_cast<int>(XsError::IsConn), 106);
}

TEST(WireTest, DecodesByteByByte) {
    std::string stream = encode(Message{XS_WRITE, 1, 0, std::string("/a\0v", 4)}) +
                         encode(Message{XS_READ, 2, 3, std::string("/a\0", 3)});
    Decoder decoder;
    std::vector<Message> got;
    for (char c : stream) {
        decoder.feed(std::string_view(&c, 1));
        for (auto next = decoder.next(); next.status == Decoder::Status::Message;
             next = decoder.next())
            got.push_back(next.message);
    }
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].payload, std::string("/a\0v", 4));
    EXPECT_EQ(got[1].tx_id, 3u);
    EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(WireTest, OversizedPayloadBreaksStream) {
    xsd_sockmsg header{XS_WRITE, 0, 0, XENSTORE_PAYLOAD_MAX + 1};
    Decoder decoder;
    decoder.feed(std::string_view(reinterpret_cast<const char*>(&header), sizeof(header)));
    EXPECT_EQ(decoder.next().status, Decoder::Status::Violation);
    decoder.feed(encode(Message{XS_READ, 0, 0, "x"}));
    EXPECT_EQ(decoder.next().status, Decoder::Status::Violation);
    EXPECT_TRUE(decoder.broken());
    EXPECT_EQ(decoder.buffered(), 0u);
    // Exactly the maximum is fine.
    Decoder ok;
    ok.feed(encode(Message{XS_WRITE, 0, 0, std::string(XENSTORE_PAYLOAD_MAX, 'x')}));
    EXPECT_EQ(ok.next().status, Decoder::Status::Message);
}

TEST(WireTest, SplitStrings) {
    const std::string payload("a\0b\0", 4);  // results are views into the payload
    auto two = split_strings(payload, 2);
    ASSERT_TRUE(two);
    EXPECT_EQ((*two)[1], "b");
    EXPECT_FALSE(split_strings(std::string("a\0b", 3), 2));
    EXPECT_FALSE(split_strings(std::string("a\0", 2), 2));
    EXPECT_FALSE(split_strings(std::string("a\0b\0c\0", 6), 2));
    EXPECT_FALSE(split_strings("", 1));
    auto empty = split_strings(std::string("\0", 1), 1);
    ASSERT_TRUE(empty);
    EXPECT_EQ((*empty)[0], "");
    const std::string write_payload("/p\0va\0lue", 9);
    auto pv = split_path_value(write_payload);
    ASSERT_TRUE(pv);
    EXPECT_EQ(pv->second, std::string("va\0lue", 6));
    EXPECT_FALSE(split_path_value("/p"));
}

TEST(WireTest, ParseDecimal) {
    EXPECT_EQ(parse_decimal("65535", 0xFFFF).value(), 65535u);
    EXPECT_FALSE(parse_decimal("65536", 0xFFFF));
    EXPECT_FALSE(parse_decimal("-1", 0xFFFF));
    EXPECT_FALSE(parse_decimal("", 10));
    EXPECT_FALSE(parse_decimal("1x", 10));
    EXPECT_FALSE(parse_decimal("5", 3));
    EXPECT_EQ(parse_decimal("18446744073709551615", UINT64_MAX).value(), UINT64_MAX);
    EXPECT_FALSE(parse_decimal("18446744073709551616", UINT64_MAX));
}

TEST(WireTest, ReplyBuilders) {
    Message request{XS_READ, 5, 6, {}};
    EXPECT_EQ(make_ok(request), (Message{XS_READ, 5, 6, std::string("OK\0", 3)}));
    EXPECT_EQ(make_error(request, XsError::NoEnt),
              (Message{XS_ERROR, 5, 6, std::string("ENOENT\0", 7)}));
    EXPECT_EQ(make_reply(request, std::string(4097, 'x')).payload, std::string("E2BIG\0", 6));
    EXPECT_EQ(make_watch_event("/a", "t"),
              (Message{XS_WATCH_EVENT, 0, 0, std::string("/a\0t\0", 5)}));
    EXPECT_FALSE(fits_watch_event(std::string(4094, 'p'), "t"));
    EXPECT_TRUE(fits_watch_event(std::string(4093, 'p'), "t"));
}

TEST(WireTest, DirectoryPartChunks) {
    std::vector<std::string> children;
    for (int i = 0; i < 600; ++i)
        children.push_back("child" + std::to_string(i));
    const std::string packed = pack_strings(children);
    ASSERT_GT(packed.size(), 4096u);
    std::string rebuilt;
    std::uint64_t offset = 0;
    int chunks = 0;
    while (true) {
        std::string reply = directory_part(42, children, offset);
        ASSERT_LE(reply.size(), 4096u);
        ASSERT_EQ(reply.substr(0, 3), std::string("42\0", 3));
        std::string body = reply.substr(3);
        ++chunks;
        bool last = body.size() >= 1 && body.back() == '\0' &&
                    (body.size() == 1 || body[body.size() - 2] == '\0');
        if (last) body.pop_back();
        rebuilt += body;
        offset += body.size();
        if (last) break;
        ASSERT_LT(chunks, 10);
    }
    EXPECT_EQ(rebuilt, packed);
    EXPECT_GE(chunks, 2);
    EXPECT_EQ(directory_part(7, children, packed.size()), std::string("7\0\0", 3));
    EXPECT_EQ(directory_part(7, {}, 0), std::string("7\0\0", 3));
}

TEST(WireFuzzTest, RandomBytesNeverBreakDecoderInvariants) {
    std::mt19937 rng(1234);
    for (int round = 0; round < 2000; ++round) {
        Decoder decoder;
        int pieces = 1 + static_cast<int>(next32(rng) % 20);
        for (int p = 0; p < pieces; ++p) {
            std::string bytes(next32(rng) % 64, '\0');
            for (auto& b : bytes)
                b = static_cast<char>(next32(rng));
            // Often plant a plausible header so payload paths get exercised.
            if (next32(rng) % 2) {
                xsd_sockmsg header{static_cast<std::uint32_t>(next32(rng) % 30), next32(rng),
                                   next32(rng) % 3, static_cast<std::uint32_t>(next32(rng) % 80)};
                bytes.insert(0, reinterpret_cast<const char*>(&header), sizeof(header));
            }
            decoder.feed(bytes);
            for (auto next = decoder.next(); next.status == Decoder::Status::Message;
                 next = decoder.next())
                ASSERT_LE(next.message.payload.size(),
                          static_cast<std::size_t>(XENSTORE_PAYLOAD_MAX));
            ASSERT_LE(decoder.buffered(), sizeof(xsd_sockmsg) + XENSTORE_PAYLOAD_MAX + 64);
        }
    }
}

}  // namespace
}  // namespace domus::store
