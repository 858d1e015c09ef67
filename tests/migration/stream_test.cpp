// Tests for the migration stream's framing: round trip, and every kind of damage
// (magic, version, checksum, reserved bits, truncation, oversize, unknown type) refused.
#include "migration/stream.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace domus::migration {
namespace {

std::vector<std::uint8_t> bytes(const char* text) {
    return {reinterpret_cast<const std::uint8_t*>(text),
            reinterpret_cast<const std::uint8_t*>(text) + std::strlen(text)};
}

std::vector<std::uint8_t> sample() {
    VectorSink sink;
    StreamWriter writer(sink);
    EXPECT_TRUE(writer.header(kFlagLive));
    EXPECT_TRUE(writer.record(RecordType::xl_config, bytes("name = \"a\"\n")));
    EXPECT_TRUE(writer.record(RecordType::grant_table, bytes("12345678")));
    EXPECT_TRUE(writer.end());
    EXPECT_EQ(writer.bytes(), sink.data.size());
    return sink.data;
}

// Reads every record; the error of the first failure.
Result<std::vector<Record>> read_all(std::span<const std::uint8_t> data) {
    SpanSource source(data);
    StreamReader reader(source);
    DOMUS_TRY(header, reader.header());
    (void)header;
    std::vector<Record> records;
    for (;;) {
        DOMUS_TRY(record, reader.next());
        records.push_back(record);
        if (record.type == std::uint32_t(RecordType::end)) return records;
    }
}

TEST(Stream, RoundTrip) {
    auto data = sample();
    EXPECT_EQ(data.size() % 8, 0u);  // records padded to 8 bytes
    auto records = read_all(data);
    ASSERT_TRUE(records) << records.error().message;
    ASSERT_EQ(records->size(), 3u);
    EXPECT_EQ((*records)[0].type, std::uint32_t(RecordType::xl_config));
    EXPECT_EQ((*records)[0].body, bytes("name = \"a\"\n"));
    EXPECT_EQ((*records)[1].body, bytes("12345678"));
    EXPECT_TRUE((*records)[2].body.empty());
}

TEST(Stream, RecordInPieces) {
    VectorSink one, two;
    StreamWriter a(one), b(two);
    auto x = bytes("abc"), y = bytes("defgh");
    std::span<const std::uint8_t> pieces[] = {x, y};
    ASSERT_TRUE(a.record(std::uint32_t(RecordType::xl_config), pieces));
    ASSERT_TRUE(b.record(RecordType::xl_config, bytes("abcdefgh")));
    EXPECT_EQ(one.data, two.data);
}

TEST(Stream, EveryFlippedByteIsRefused) {
    auto data = sample();
    for (std::size_t i = 0; i < data.size(); ++i) {
        for (std::uint8_t mask : {0x01, 0x80}) {
            auto bad = data;
            bad[i] ^= mask;
            EXPECT_FALSE(read_all(bad)) << "byte " << i << " mask " << int(mask);
        }
    }
}

TEST(Stream, EveryTruncationIsRefused) {
    auto data = sample();
    for (std::size_t n = 0; n < data.size(); ++n) {
        auto result = read_all(std::span(data.data(), n));
        ASSERT_FALSE(result) << n;
        EXPECT_NE(result.error().message.find("truncated"), std::string::npos)
            << n << ": " << result.error().message;
    }
}

TEST(Stream, BadMagicNamed) {
    auto data = sample();
    data[0] = 'X';
    auto result = read_all(data);
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().message.find("magic"), std::string::npos);
}

TEST(Stream, NewerVersionRefusedByName) {
    auto data = sample();
    std::uint32_t version = kVersion + 1;
    std::memcpy(&data[8], &version, 4);
    std::uint32_t crc = crc32(std::span(data.data(), 16));
    std::memcpy(&data[16], &crc, 4);
    auto result = read_all(data);
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().message.find("newer"), std::string::npos) << result.error().message;
}

TEST(Stream, OversizeLengthRefusedBeforeAllocating) {
    VectorSink sink;
    StreamWriter writer(sink);
    ASSERT_TRUE(writer.header(0));
    std::uint32_t head[4] = {std::uint32_t(RecordType::xl_config), 0xFFFF'FFF0u, 0, 0};
    (void)sink.write({reinterpret_cast<std::uint8_t*>(head), sizeof head});
    auto result = read_all(sink.data);
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().message.find("over the limit"), std::string::npos);
}

TEST(Stream, WriterRefusesOversizeRecord) {
    VectorSink sink;
    StreamWriter writer(sink);
    std::vector<std::uint8_t> big(kMaxRecordBody + 1);
    EXPECT_FALSE(writer.record(RecordType::xl_config, big));
    EXPECT_TRUE(sink.data.empty());
}

TEST(Stream, UnknownTypeRefusedUnlessOptional) {
    for (std::uint32_t type : {kLastRecordType + 1, kOptionalRecord | 77u}) {
        VectorSink sink;
        StreamWriter writer(sink);
        ASSERT_TRUE(writer.header(0));
        auto body = bytes("x");
        std::span<const std::uint8_t> pieces[] = {body};
        ASSERT_TRUE(writer.record(type, pieces));
        ASSERT_TRUE(writer.end());
        auto result = read_all(sink.data);
        if (type & kOptionalRecord) {
            ASSERT_TRUE(result) << result.error().message;
            EXPECT_EQ(result->size(), 1u);  // skipped: only the end record
        } else {
            ASSERT_FALSE(result);
            EXPECT_NE(result.error().message.find("unknown record type"), std::string::npos);
        }
    }
}

}  // namespace
}  // namespace domus::migration
