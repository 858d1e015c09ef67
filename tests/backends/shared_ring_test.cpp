// BackendRing against a frontend simulated in the test: batching, notification
// hold-off, and a hostile frontend.
#include "backends/shared_ring.hpp"

#include <gtest/gtest.h>

#include <vector>

#include <domus/abi/blkif.h>

namespace domus::backends {
namespace {

using BlkRing = BackendRing<blkif_sring_entry, blkif_request, blkif_response>;

struct Page {
    alignas(4096) std::byte bytes[4096]{};
    ring_sring_header& header() { return *reinterpret_cast<ring_sring_header*>(bytes); }
    blkif_sring_entry* entries() { return reinterpret_cast<blkif_sring_entry*>(bytes + 64); }
    void push_request(std::uint64_t id) {
        blkif_request request{};
        request.id = id;
        entries()[header().req_prod & 31].req = request;
        ++header().req_prod;
    }
};

TEST(BackendRing, ThirtyTwoEntriesOnOnePage) {
    Page page;
    BlkRing ring({page.bytes, sizeof(page.bytes)});
    EXPECT_EQ(ring.size(), 32u);
}

TEST(BackendRing, TakesRequestsInOrderAndAnswersThem) {
    Page page;
    page.header().req_event = page.header().rsp_event = 1;
    BlkRing ring({page.bytes, sizeof(page.bytes)});
    for (std::uint64_t id = 1; id <= 5; ++id)
        page.push_request(id);
    blkif_request request;
    for (std::uint64_t id = 1; id <= 5; ++id) {
        ASSERT_EQ(ring.next(request), BlkRing::Next::request);
        EXPECT_EQ(request.id, id);
        ring.push_response(blkif_response{id, BLKIF_OP_READ, 0, BLKIF_RSP_OKAY, 0});
    }
    EXPECT_EQ(ring.next(request), BlkRing::Next::empty);
    EXPECT_TRUE(ring.publish_responses());  // rsp_event = 1 lies in (0, 5]
    EXPECT_EQ(page.header().rsp_prod, 5u);
    EXPECT_EQ(page.entries()[2].rsp.id, 3u);
    // The frontend did not ask again (rsp_event still 1): no notification this time.
    page.push_request(6);
    ASSERT_EQ(ring.next(request), BlkRing::Next::request);
    ring.push_response(blkif_response{6, 0, 0, 0, 0});
    EXPECT_FALSE(ring.publish_responses());
}

TEST(BackendRing, ResumeContinuesWhereTheDrainedRingStopped) {
    Page page;
    blkif_request request;
    {
        BlkRing first({page.bytes, sizeof(page.bytes)});
        for (std::uint64_t id = 1; id <= 40; ++id) {  // wraps past the 32 slots
            page.push_request(id);
            ASSERT_EQ(first.next(request), BlkRing::Next::request);
            first.push_response(blkif_response{id, 0, 0, 0, 0});
            first.publish_responses();
        }
    }
    page.push_request(41);
    page.push_request(42);
    BlkRing second({page.bytes, sizeof(page.bytes)}, BlkRing::Resume{});
    ASSERT_EQ(second.next(request), BlkRing::Next::request);
    EXPECT_EQ(request.id, 41u);
    ASSERT_EQ(second.next(request), BlkRing::Next::request);
    EXPECT_EQ(request.id, 42u);
    EXPECT_EQ(second.next(request), BlkRing::Next::empty);
    second.push_response(blkif_response{41, 0, 0, 0, 0});
    second.publish_responses();
    EXPECT_EQ(page.header().rsp_prod, 41u);
    EXPECT_EQ(page.entries()[40 & 31].rsp.id, 41u);
}

TEST(BackendRing, FinalCheckSeesRequestsThatRacedIn) {
    Page page;
    BlkRing ring({page.bytes, sizeof(page.bytes)});
    EXPECT_FALSE(ring.more_after_final_check());
    EXPECT_EQ(page.header().req_event, 1u);
    page.push_request(1);
    EXPECT_TRUE(ring.more_after_final_check());
}

TEST(BackendRing, NeverTakesMoreThanItCanAnswer) {
    Page page;
    BlkRing ring({page.bytes, sizeof(page.bytes)});
    for (int i = 0; i < 32; ++i)
        page.push_request(std::uint64_t(i));
    blkif_request request;
    int taken = 0;
    while (ring.next(request) == BlkRing::Next::request)
        ++taken;
    EXPECT_EQ(taken, 32);
}

TEST(BackendRing, HostileProducerIndexIsAnOverflow) {
    Page page;
    BlkRing ring({page.bytes, sizeof(page.bytes)});
    page.header().req_prod = 1000;  // more requests than slots
    blkif_request request;
    EXPECT_EQ(ring.next(request), BlkRing::Next::overflow);
    page.header().req_prod = 0xFFFFFFF0u;  // "negative": also impossible
    EXPECT_EQ(ring.next(request), BlkRing::Next::overflow);
}

TEST(BackendRing, IndicesWrapAround) {
    Page page;
    BlkRing ring({page.bytes, sizeof(page.bytes)});
    blkif_request request;
    for (std::uint64_t round = 0; round < 300; ++round) {
        page.push_request(round);
        ASSERT_EQ(ring.next(request), BlkRing::Next::request);
        ASSERT_EQ(request.id, round);
        ring.push_response(blkif_response{round, 0, 0, 0, 0});
        ring.publish_responses();
    }
}

}  // namespace
}  // namespace domus::backends
