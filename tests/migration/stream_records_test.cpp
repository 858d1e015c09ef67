// Tests for the migration stream's record bodies and check_stream: round trips, and a
// whole stream refused for each missing, repeated, out-of-range or damaged piece.
#include "migration/stream_records.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace domus::migration {
namespace {

DomainInfo sample_info() {
    DomainInfo info;
    info.domid = 7;
    info.vcpus = 2;
    info.memory_mib = 16;
    info.maxmem_mib = 16;
    info.nr_pfns = 4096;
    info.tsc_khz = 2'000'000;
    info.hypercall_page = 0x203000;
    info.name = "counter";
    return info;
}

struct StreamParts {
    bool domain = true, shared = true, clock = true, end = true;
    bool config_first = false;  // version 2: the configuration before domain_info
    bool store_first = false;   // anything else there is refused
    std::uint32_t vcpus_given = 2;
    bool trailing = false;
};

std::vector<std::uint8_t> make_stream(const StreamParts& parts = {}) {
    VectorSink sink;
    StreamWriter writer(sink);
    EXPECT_TRUE(writer.header(0));
    if (parts.config_first) {
        std::string config = "name = \"counter\"\n";
        EXPECT_TRUE(
            writer.record(RecordType::xl_config,
                          {reinterpret_cast<const std::uint8_t*>(config.data()), config.size()}));
    }
    if (parts.store_first) {
        EXPECT_TRUE(writer.record(RecordType::store_subtree, encode(KeyValues{})));
    }
    if (parts.domain) {
        EXPECT_TRUE(writer.record(RecordType::domain_info, encode(sample_info())));
    }
    std::vector<std::uint8_t> page(kPageSize, 0xAB);
    std::uint64_t entries[] = {1, 5 | kZeroPage, 4095};
    std::span<const std::uint8_t> pages[] = {page, page};
    std::vector<std::uint8_t> head;
    auto pieces = page_batch_pieces(head, entries, pages);
    EXPECT_TRUE(writer.record(std::uint32_t(RecordType::page_data), pieces));
    for (std::uint32_t v = 0; v < parts.vcpus_given; ++v) {
        VcpuState state;
        state.id = v;
        state.blobs[1] = {1, 2, 3};
        EXPECT_TRUE(writer.record(RecordType::vcpu_state, encode(state)));
    }
    if (parts.shared) {
        EXPECT_TRUE(writer.record(RecordType::shared_info, std::vector<std::uint8_t>(kPageSize)));
    }
    if (parts.clock) {
        EXPECT_TRUE(writer.record(RecordType::guest_clock, encode(GuestClockState{})));
    }
    EXPECT_TRUE(writer.record(RecordType::store_subtree, encode(KeyValues{{"name", "counter"}})));
    if (parts.end) {
        EXPECT_TRUE(writer.end());
    }
    if (parts.trailing) sink.data.push_back(0);
    return sink.data;
}

Result<StreamSummary> check(std::span<const std::uint8_t> data) {
    SpanSource source(data);
    return check_stream(source);
}

TEST(StreamRecords, DomainInfoRoundTrip) {
    auto info = decode_domain_info(encode(sample_info()));
    ASSERT_TRUE(info) << info.error().message;
    EXPECT_EQ(info->domid, 7u);
    EXPECT_EQ(info->vcpus, 2u);
    EXPECT_EQ(info->nr_pfns, 4096u);
    EXPECT_EQ(info->tsc_khz, 2'000'000u);
    EXPECT_EQ(info->hypercall_page, 0x203000u);
    EXPECT_EQ(info->name, "counter");
}

TEST(StreamRecords, DomainInfoShortOrLongRefused) {
    auto body = encode(sample_info());
    for (std::size_t n = 0; n < body.size(); ++n)
        EXPECT_FALSE(decode_domain_info(std::span(body.data(), n))) << n;
    body.push_back(0);
    EXPECT_FALSE(decode_domain_info(body));
}

TEST(StreamRecords, DomainInfoRangesChecked) {
    auto info = sample_info();
    info.vcpus = 0;
    EXPECT_FALSE(decode_domain_info(encode(info)));
    info = sample_info();
    info.nr_pfns = 0;
    EXPECT_FALSE(decode_domain_info(encode(info)));
    info = sample_info();
    info.hypercall_page = 4096ull * 4096;  // one frame past the end
    EXPECT_FALSE(decode_domain_info(encode(info)));
}

TEST(StreamRecords, PageBatchRoundTrip) {
    std::vector<std::uint8_t> a(kPageSize, 1), b(kPageSize, 2);
    std::uint64_t entries[] = {3, 9 | kZeroPage, 4};
    std::span<const std::uint8_t> pages[] = {a, b};
    std::vector<std::uint8_t> head;
    std::vector<std::uint8_t> body;
    for (auto piece : page_batch_pieces(head, entries, pages))
        body.insert(body.end(), piece.begin(), piece.end());
    auto batch = decode_page_batch(body, 16);
    ASSERT_TRUE(batch) << batch.error().message;
    EXPECT_EQ(batch->entries, std::vector<std::uint64_t>(std::begin(entries), std::end(entries)));
    ASSERT_EQ(batch->data.size(), 2 * kPageSize);
    EXPECT_EQ(batch->data[0], 1);
    EXPECT_EQ(batch->data[kPageSize], 2);
    EXPECT_FALSE(decode_page_batch(body, 9));  // frame 9 beyond 9 frames
    body.pop_back();
    EXPECT_FALSE(decode_page_batch(body, 16));  // a page short
}

TEST(StreamRecords, VcpuAndKeyValuesRoundTrip) {
    VcpuState state;
    state.id = 3;
    state.blobs[2] = std::vector<std::uint8_t>(4096, 7);
    state.blobs[9] = {};
    auto back = decode_vcpu_state(encode(state));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->id, 3u);
    EXPECT_EQ(back->blobs, state.blobs);
    KeyValues pairs{{"a", "1"}, {"b/c", ""}};
    auto kv = decode_key_values(encode(pairs));
    ASSERT_TRUE(kv);
    EXPECT_EQ(*kv, pairs);
    auto body = encode(pairs);
    body.resize(body.size() - 1);
    EXPECT_FALSE(decode_key_values(body));
}

TEST(StreamRecords, WholeStreamChecks) {
    auto summary = check(make_stream());
    ASSERT_TRUE(summary) << summary.error().message;
    EXPECT_EQ(summary->domain.name, "counter");
    EXPECT_EQ(summary->pages, 2u);
    EXPECT_EQ(summary->zero_pages, 1u);
}

// A destination builds the domain from the configuration before the memory comes.
TEST(StreamRecords, OnlyTheConfigurationMayComeBeforeDomainInfo) {
    StreamParts parts;
    parts.config_first = true;
    auto summary = check(make_stream(parts));
    ASSERT_TRUE(summary) << summary.error().message;
    EXPECT_EQ(summary->domain.name, "counter");
    parts = {};
    parts.store_first = true;
    auto refused = check(make_stream(parts));
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("does not start with domain_info"), std::string::npos)
        << refused.error().message;
}

TEST(StreamRecords, IncompleteStreamsRefused) {
    StreamParts parts;
    parts.domain = false;
    EXPECT_FALSE(check(make_stream(parts)));
    parts = {};
    parts.shared = false;
    EXPECT_FALSE(check(make_stream(parts)));
    parts = {};
    parts.clock = false;
    EXPECT_FALSE(check(make_stream(parts)));
    parts = {};
    parts.end = false;
    EXPECT_FALSE(check(make_stream(parts)));
    parts = {};
    parts.vcpus_given = 1;
    EXPECT_FALSE(check(make_stream(parts)));
    parts = {};
    parts.vcpus_given = 3;  // vCPU 2 of a 2-vCPU domain
    EXPECT_FALSE(check(make_stream(parts)));
    parts = {};
    parts.trailing = true;
    EXPECT_FALSE(check(make_stream(parts)));
}

// Fuzz-style: flipping any byte of a whole image, or cutting it anywhere, is refused.
PhysmapState sample_physmap(std::uint64_t frames) {
    PhysmapState physmap;
    physmap.frames = frames;
    physmap.populated.assign((frames + 63) / 64, ~0ull);
    if (frames % 64) physmap.populated.back() = (1ull << (frames % 64)) - 1;
    physmap.populated[1] = 0x00FF'0000'0000'FF00ull;  // frames given back
    physmap.maximum = physmap.current() + 16;
    return physmap;
}

TEST(StreamRecords, PhysmapRoundTrip) {
    for (std::uint64_t frames : {4096ull, 4100ull}) {
        PhysmapState sent = sample_physmap(frames);
        auto got = decode_physmap(encode(sent));
        ASSERT_TRUE(got) << got.error().message;
        EXPECT_EQ(got->frames, frames);
        EXPECT_EQ(got->maximum, sent.maximum);
        EXPECT_EQ(got->populated, sent.populated);
        EXPECT_EQ(got->current(), frames - 64 + 16);
    }
}

TEST(StreamRecords, PhysmapDamageRefused) {
    auto refused = [](PhysmapState physmap, const char* why) {
        EXPECT_FALSE(decode_physmap(encode(physmap))) << why;
    };
    PhysmapState p = sample_physmap(4100);
    p.frames = 0;
    refused(p, "no frames");
    p = sample_physmap(4100);
    p.frames = kMaxPhysmapFrames + 1;
    refused(p, "over 64 GiB");
    p = sample_physmap(4100);
    p.populated.pop_back();
    refused(p, "a word missing");
    p = sample_physmap(4100);
    p.populated.back() |= 1ull << 10;  // frame 4106
    refused(p, "a bit beyond the frames");
    p = sample_physmap(4100);
    p.maximum = p.frames + 1;
    refused(p, "a maximum above the size");
    p = sample_physmap(4100);
    p.maximum = p.current() - 1;
    refused(p, "a maximum below what it holds");
    auto body = encode(sample_physmap(4100));
    body[16] ^= 1;  // the count of populated frames
    EXPECT_FALSE(decode_physmap(body)) << "a count that does not match the bits";
    body = encode(sample_physmap(4100));
    body.push_back(0);
    EXPECT_FALSE(decode_physmap(body)) << "stray bytes";
}

// Written optional (an older reader skips it); checked against the domain's frames.
TEST(StreamRecords, StreamWithAPhysmapIsCheckedAgainstTheDomain) {
    for (std::uint64_t frames : {4096ull, 4097ull}) {
        auto data = make_stream();
        data.resize(data.size() - 16);  // the end record (no body)
        VectorSink sink;
        sink.data = data;
        StreamWriter writer(sink);
        auto body = encode(sample_physmap(frames));
        std::span<const std::uint8_t> pieces[] = {body};
        ASSERT_TRUE(writer.record(std::uint32_t(RecordType::physmap) | kOptionalRecord, pieces));
        ASSERT_TRUE(writer.end());
        auto checked = check(sink.data);
        EXPECT_EQ(bool(checked), frames == 4096) << frames;
    }
}

TEST(StreamRecords, FlippedAndTruncatedImagesRefused) {
    auto data = make_stream();
    for (std::size_t i = 0; i < data.size(); i += (i < 512 ? 1 : 61)) {
        auto bad = data;
        bad[i] ^= std::uint8_t(1u << (i % 8));
        EXPECT_FALSE(check(bad)) << "flip at " << i;
    }
    for (std::size_t n = 0; n < data.size(); n += (n < 512 ? 1 : 61))
        EXPECT_FALSE(check(std::span(data.data(), n))) << "cut at " << n;
}

}  // namespace
}  // namespace domus::migration
