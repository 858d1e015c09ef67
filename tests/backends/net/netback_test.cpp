// NetBack against a frontend played by the test on fake grants (page i is grant i) and a
// fake host port: packets both ways, offloads, multi-slot packets, GSO, and a hostile
// frontend's bad slots (answered, dropped) and broken rings (refused).
#include "backends/net/netback.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <vector>

#include "../block/fake_data_path_host.hpp"

namespace domus::backends {
namespace {

using fakes::FakeDataPathHost;

struct SentFrame {
    VnetHeader header;
    std::vector<std::byte> bytes;
};

class FakePort : public FramePort {
public:
    Result<bool> send(const VnetHeader& header, std::span<const iovec> frame) override {
        if (full) return false;
        SentFrame sent{header, {}};
        for (const auto& piece : frame) {
            auto* p = static_cast<const std::byte*>(piece.iov_base);
            sent.bytes.insert(sent.bytes.end(), p, p + piece.iov_len);
        }
        frames.push_back(std::move(sent));
        return true;
    }
    Result<std::size_t> receive(VnetHeader& header, std::span<std::byte> buffer) override {
        if (incoming.empty()) return std::size_t(0);
        auto frame = std::move(incoming.front());
        incoming.pop_front();
        header = frame.header;
        std::memcpy(buffer.data(), frame.bytes.data(), frame.bytes.size());
        return frame.bytes.size();
    }
    std::vector<SentFrame> frames;
    std::deque<SentFrame> incoming;
    bool full = false;
};

// A UDP/IPv4 frame of `size` bytes (headers included), bytes after the headers counting.
std::vector<std::byte> udp_frame(std::size_t size) {
    std::vector<std::byte> b(size);
    b[12] = std::byte(0x08);
    b[14] = std::byte(0x45);
    b[14 + 9] = std::byte(17);
    b[14 + 2] = std::byte((size - 14) >> 8);
    b[14 + 3] = std::byte((size - 14) & 0xff);
    for (std::size_t i = 42; i < size; ++i)
        b[i] = std::byte(i * 13 + 5);
    return b;
}

class NetBackTest : public ::testing::Test {
protected:
    static constexpr grant_ref_t kTxRing = 0, kRxRing = 1, kFirstData = 2;

    NetBackTest() : host_(64) {}

    void SetUp() override {
        // As SHARED_RING_INIT leaves them: both sides want the first event.
        for (grant_ref_t ring : {kTxRing, kRxRing})
            header(ring)->req_event = header(ring)->rsp_event = 1;
        make_netback({});
    }

    void make_netback(NetFeatures features) {
        back_ = std::make_unique<NetBack>(host_, port_, host_.page(kTxRing), host_.page(kRxRing),
                                          features);
    }

    ring_sring_header* header(grant_ref_t ring) {
        return reinterpret_cast<ring_sring_header*>(host_.page(ring).data());
    }
    template <class Entry>
    Entry* entries(grant_ref_t ring) {
        return reinterpret_cast<Entry*>(host_.page(ring).data() + sizeof(ring_sring_header));
    }
    static void publish(RING_IDX& index, RING_IDX value) {
        std::atomic_ref<RING_IDX>(index).store(value, std::memory_order_release);
    }

    void push_tx(const netif_tx_request& request) {
        entries<netif_tx_sring_entry>(kTxRing)[tx_prod_ % NET_TX_RING_SIZE].req = request;
        ++tx_prod_;
    }
    void push_extra(const netif_extra_info& extra) {
        netif_tx_request slot{};
        std::memcpy(&slot, &extra, sizeof extra);
        push_tx(slot);
    }
    void publish_tx() { publish(header(kTxRing)->req_prod, tx_prod_); }

    std::vector<netif_tx_response> tx_responses() {
        std::vector<netif_tx_response> out;
        RING_IDX prod = header(kTxRing)->rsp_prod;
        for (; tx_cons_ != prod; ++tx_cons_)
            out.push_back(entries<netif_tx_sring_entry>(kTxRing)[tx_cons_ % NET_TX_RING_SIZE].rsp);
        return out;
    }

    void post_rx(std::uint16_t id, grant_ref_t gref) {
        entries<netif_rx_sring_entry>(kRxRing)[rx_prod_ % NET_RX_RING_SIZE].req = {id, 0, gref};
        ++rx_prod_;
        publish(header(kRxRing)->req_prod, rx_prod_);
    }
    std::vector<netif_rx_response> rx_responses() {
        std::vector<netif_rx_response> out;
        RING_IDX prod = header(kRxRing)->rsp_prod;
        for (; rx_cons_ != prod; ++rx_cons_)
            out.push_back(entries<netif_rx_sring_entry>(kRxRing)[rx_cons_ % NET_RX_RING_SIZE].rsp);
        return out;
    }

    // A packet laid into data page `gref` at `offset`.
    void put(grant_ref_t gref, std::size_t offset, std::span<const std::byte> bytes) {
        std::memcpy(host_.page(gref).data() + offset, bytes.data(), bytes.size());
    }

    FakeDataPathHost host_;
    FakePort port_;
    std::unique_ptr<NetBack> back_;
    RING_IDX tx_prod_ = 0, tx_cons_ = 0, rx_prod_ = 0, rx_cons_ = 0;
};

TEST_F(NetBackTest, OneSlotPacketReachesTheHostWithItsChecksumOffload) {
    auto frame = udp_frame(300);
    put(kFirstData, 100, frame);
    push_tx({kFirstData, 100, NETTXF_csum_blank, 7, 300});
    publish_tx();
    ASSERT_TRUE(back_->transmit());
    ASSERT_EQ(port_.frames.size(), 1u);
    const auto& sent = port_.frames[0];
    EXPECT_EQ(sent.header.flags, kVnetNeedsChecksum);
    EXPECT_EQ(sent.header.checksum_start, 34);
    EXPECT_EQ(sent.header.checksum_offset, 6);
    ASSERT_EQ(sent.bytes.size(), 300u);
    // Byte for byte the guest's, but the checksum field (now the pseudo-header sum).
    EXPECT_TRUE(std::equal(sent.bytes.begin(), sent.bytes.begin() + 40, frame.begin()));
    EXPECT_TRUE(std::equal(sent.bytes.begin() + 42, sent.bytes.end(), frame.begin() + 42));
    auto responses = tx_responses();
    ASSERT_EQ(responses.size(), 1u);
    EXPECT_EQ(responses[0].id, 7);
    EXPECT_EQ(responses[0].status, XEN_NETIF_RSP_OKAY);
    EXPECT_EQ(back_->stats().tx_packets, 1u);
    EXPECT_EQ(host_.live, 0);  // every grant let go
}

TEST_F(NetBackTest, FragmentsAndAGsoSlotMakeOneLargeSegment) {
    // A TCP/IPv4 packet of 9000 bytes in three fragments at odd offsets, with GSO.
    std::vector<std::byte> frame(9000);
    frame[12] = std::byte(0x08);
    frame[14] = std::byte(0x45);
    frame[14 + 9] = std::byte(6);
    frame[34 + 12] = std::byte(5 << 4);
    for (std::size_t i = 54; i < frame.size(); ++i)
        frame[i] = std::byte(i % 251);
    put(kFirstData, 10, std::span(frame).first(4000));
    put(kFirstData + 1, 0, std::span(frame).subspan(4000, 4096));
    put(kFirstData + 2, 96, std::span(frame).subspan(8096));
    push_tx({kFirstData, 10, NETTXF_csum_blank | NETTXF_extra_info | NETTXF_more_data, 1, 9000});
    netif_extra_info gso{};
    gso.type = XEN_NETIF_EXTRA_TYPE_GSO;
    gso.u.gso.type = XEN_NETIF_GSO_TYPE_TCPV4;
    gso.u.gso.size = 1448;
    push_extra(gso);
    push_tx({kFirstData + 1, 0, NETTXF_more_data, 2, 4096});
    push_tx({kFirstData + 2, 96, 0, 3, 904});
    publish_tx();
    ASSERT_TRUE(back_->transmit());
    ASSERT_EQ(port_.frames.size(), 1u);
    const auto& sent = port_.frames[0];
    EXPECT_EQ(sent.header.gso_type, kVnetGsoTcpv4);
    EXPECT_EQ(sent.header.gso_size, 1448);
    EXPECT_EQ(sent.header.header_length, 54);
    ASSERT_EQ(sent.bytes.size(), 9000u);
    EXPECT_TRUE(std::equal(sent.bytes.begin() + 54, sent.bytes.end(), frame.begin() + 54));
    auto responses = tx_responses();
    ASSERT_EQ(responses.size(), 4u);  // every slot, in order, the extra one NULL
    EXPECT_EQ(responses[0].status, XEN_NETIF_RSP_OKAY);
    EXPECT_EQ(responses[1].status, XEN_NETIF_RSP_NULL);
    EXPECT_EQ(responses[2].id, 2);
    EXPECT_EQ(responses[3].id, 3);
    EXPECT_EQ(responses[3].status, XEN_NETIF_RSP_OKAY);
}

TEST_F(NetBackTest, BadPacketsAreAnsweredWithErrorsAndTheRingGoesOn) {
    auto frame = udp_frame(200);
    put(kFirstData, 0, frame);
    push_tx({999, 0, 0, 1, 200});                          // a grant the guest does not have
    push_tx({kFirstData, 4000, 0, 2, 200});                // runs past its page
    push_tx({kFirstData, 0, NETTXF_more_data, 3, 100});    // fragments larger than the packet
    push_tx({kFirstData, 0, 0, 4, 200});                   // (its second slot)
    push_tx({kFirstData, 0, 0, 5, 10});                    // shorter than an Ethernet header
    push_tx({kFirstData, 100, NETTXF_csum_blank, 6, 60});  // checksum offload on junk
    push_tx({kFirstData, 0, 0, 7, 200});                   // a good one at the end
    publish_tx();
    ASSERT_TRUE(back_->transmit());
    auto responses = tx_responses();
    ASSERT_EQ(responses.size(), 7u);
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(responses[i].status, XEN_NETIF_RSP_ERROR) << "slot " << i;
    EXPECT_EQ(responses[5].status, XEN_NETIF_RSP_ERROR);
    EXPECT_EQ(responses[6].status, XEN_NETIF_RSP_OKAY);
    EXPECT_EQ(port_.frames.size(), 1u);
    EXPECT_EQ(back_->stats().tx_errors, 5u);  // packets, not slots
    EXPECT_EQ(host_.live, 0);

    // Too many fragments for one packet: refused as a whole.
    for (std::uint16_t i = 0; i < XEN_NETIF_NR_SLOTS_MIN + 1; ++i)
        push_tx({kFirstData, 0, std::uint16_t(i < XEN_NETIF_NR_SLOTS_MIN ? NETTXF_more_data : 0),
                 std::uint16_t(100 + i), std::uint16_t(i == 0 ? 19 * 14 : 14)});
    publish_tx();
    ASSERT_TRUE(back_->transmit());
    responses = tx_responses();
    ASSERT_EQ(responses.size(), XEN_NETIF_NR_SLOTS_MIN + 1u);
    for (const auto& r : responses)
        EXPECT_EQ(r.status, XEN_NETIF_RSP_ERROR);

    // A full host drops the packet and says so.
    port_.full = true;
    push_tx({kFirstData, 0, 0, 50, 200});
    publish_tx();
    ASSERT_TRUE(back_->transmit());
    EXPECT_EQ(tx_responses().at(0).status, XEN_NETIF_RSP_DROPPED);
    EXPECT_EQ(back_->stats().tx_dropped, 1u);
}

TEST_F(NetBackTest, APacketCutOffByTheRingOrAnOverflowingIndexBreaksTheRing) {
    push_tx({kFirstData, 0, NETTXF_more_data, 1, 200});  // the rest never comes
    publish_tx();
    EXPECT_FALSE(back_->transmit());

    make_netback({});
    tx_prod_ = tx_cons_ = 0;
    std::memset(host_.page(kTxRing).data(), 0, XEN_PAGE_SIZE);
    publish(header(kTxRing)->req_prod, NET_TX_RING_SIZE + 1);  // more than the ring holds
    EXPECT_FALSE(back_->transmit());
}

TEST_F(NetBackTest, AFrameFillsAsManyPostedPagesAsItNeeds) {
    for (std::uint16_t i = 0; i < 4; ++i)
        post_rx(i, kFirstData + i);
    auto frame = udp_frame(5000);
    VnetHeader header;
    header.flags = kVnetNeedsChecksum;
    port_.incoming.push_back({header, frame});
    ASSERT_TRUE(back_->receive());
    auto responses = rx_responses();
    ASSERT_EQ(responses.size(), 2u);
    EXPECT_EQ(responses[0].status, 4096);
    EXPECT_EQ(responses[0].flags, NETRXF_csum_blank | NETRXF_data_validated | NETRXF_more_data);
    EXPECT_EQ(responses[1].status, 904);
    EXPECT_EQ(responses[1].flags, NETRXF_csum_blank | NETRXF_data_validated);
    EXPECT_EQ(std::memcmp(host_.page(kFirstData).data(), frame.data(), 4096), 0);
    EXPECT_EQ(std::memcmp(host_.page(kFirstData + 1).data(), frame.data() + 4096, 904), 0);
    EXPECT_TRUE(back_->wants_frames());  // two pages still posted
    EXPECT_EQ(back_->stats().rx_packets, 1u);
    EXPECT_GE(host_.notifications, 1);
}

TEST_F(NetBackTest, LargeSegmentsCarryAGsoSlotWhenTheFrontendTakesThem) {
    make_netback({.gso_tcpv4 = true, .gso_tcpv6 = false, .csum_blank = true});
    for (std::uint16_t i = 0; i < 5; ++i)
        post_rx(i, kFirstData + i);
    std::vector<std::byte> frame(10000, std::byte(0x5a));
    VnetHeader header;
    header.flags = kVnetNeedsChecksum;
    header.gso_type = kVnetGsoTcpv4;
    header.gso_size = 1448;
    port_.incoming.push_back({header, frame});
    ASSERT_TRUE(back_->receive());
    auto responses = rx_responses();
    ASSERT_EQ(responses.size(), 4u);  // data, GSO, data, data
    EXPECT_TRUE(responses[0].flags & NETRXF_extra_info);
    EXPECT_TRUE(responses[0].flags & NETRXF_more_data);
    netif_extra_info extra;
    std::memcpy(&extra, &responses[1], sizeof extra);
    EXPECT_EQ(extra.type, XEN_NETIF_EXTRA_TYPE_GSO);
    EXPECT_EQ(extra.u.gso.type, XEN_NETIF_GSO_TYPE_TCPV4);
    EXPECT_EQ(extra.u.gso.size, 1448);
    EXPECT_EQ(responses[2].status, 4096);
    EXPECT_EQ(responses[3].status, 10000 - 8192);
    EXPECT_FALSE(responses[3].flags & NETRXF_more_data);
    // The GSO slot's page was not written: data went to pages 0, 2 and 3.
    EXPECT_EQ(std::memcmp(host_.page(kFirstData + 2).data(), frame.data() + 4096, 4096), 0);
    EXPECT_EQ(host_.page(kFirstData + 1)[0], std::byte(0));
}

TEST_F(NetBackTest, AFrameWaitsForPagesInsteadOfBeingDropped) {
    auto frame = udp_frame(6000);
    port_.incoming.push_back({VnetHeader{}, frame});
    post_rx(0, kFirstData);  // one page: the frame needs two
    ASSERT_TRUE(back_->receive());
    EXPECT_TRUE(rx_responses().empty());
    EXPECT_FALSE(back_->wants_frames());
    EXPECT_EQ(header(kRxRing)->req_event, 1u);  // tell me when the next page comes
    post_rx(1, kFirstData + 1);
    ASSERT_TRUE(back_->receive());
    auto responses = rx_responses();
    ASSERT_EQ(responses.size(), 2u);
    EXPECT_EQ(responses[0].status + responses[1].status, 6000);
    EXPECT_EQ(back_->stats().rx_packets, 1u);
}

TEST_F(NetBackTest, PagesTheGuestCannotGiveFailTheFrameNotTheRing) {
    post_rx(0, 999);
    auto frame = udp_frame(100);
    port_.incoming.push_back({VnetHeader{}, frame});
    ASSERT_TRUE(back_->receive());
    auto responses = rx_responses();
    ASSERT_EQ(responses.size(), 1u);
    EXPECT_EQ(responses[0].status, XEN_NETIF_RSP_ERROR);
    EXPECT_EQ(back_->stats().rx_errors, 1u);
    // A GSO frame to a frontend without GSO: dropped with errors too.
    post_rx(1, kFirstData);
    VnetHeader tso;
    tso.gso_type = kVnetGsoTcpv4;
    tso.gso_size = 1000;
    port_.incoming.push_back({tso, frame});
    ASSERT_TRUE(back_->receive());
    EXPECT_EQ(rx_responses().at(0).status, XEN_NETIF_RSP_ERROR);
    EXPECT_EQ(host_.live, 0);
}

TEST_F(NetBackTest, ARateLimitHoldsPacketsUntilTheirTokensComeAndDropsNone) {
    using namespace std::chrono_literals;
    RateClock::time_point now{};
    back_->set_clock([&] { return now; });
    back_->set_tx_limit(TokenBucket(1000, 10ms, now));  // 100,000 bytes a second
    auto frame = udp_frame(600);
    for (std::uint16_t i = 0; i < 3; ++i) {
        put(kFirstData + i, 0, frame);
        push_tx({grant_ref_t(kFirstData + i), 0, 0, i, 600});
    }
    publish_tx();
    ASSERT_TRUE(back_->transmit());
    EXPECT_EQ(port_.frames.size(), 1u);  // 400 tokens left: the second waits
    EXPECT_EQ(tx_responses().size(), 1u);
    ASSERT_TRUE(back_->tx_held_for(now));
    EXPECT_EQ(*back_->tx_held_for(now), 2ms);  // 200 tokens at 100 a millisecond
    ASSERT_TRUE(back_->transmit());            // a doorbell before then changes nothing
    EXPECT_EQ(port_.frames.size(), 1u);
    now += 2ms;
    ASSERT_TRUE(back_->transmit());
    EXPECT_EQ(port_.frames.size(), 2u);
    EXPECT_EQ(*back_->tx_held_for(now), 6ms);
    now += 6ms;
    ASSERT_TRUE(back_->transmit());
    EXPECT_EQ(port_.frames.size(), 3u);
    EXPECT_FALSE(back_->tx_held_for(now));
    auto responses = tx_responses();
    ASSERT_EQ(responses.size(), 2u);
    EXPECT_EQ(responses[1].id, 2);
    EXPECT_EQ(responses[1].status, XEN_NETIF_RSP_OKAY);
    EXPECT_EQ(back_->stats().tx_held, 2u);
    EXPECT_EQ(back_->stats().tx_dropped, 0u);
    EXPECT_EQ(host_.live, 0);
}

TEST_F(NetBackTest, LiftingTheLimitLetsTheHeldPacketGo) {
    using namespace std::chrono_literals;
    RateClock::time_point now{};
    back_->set_clock([&] { return now; });
    back_->set_tx_limit(TokenBucket(100, 1s, now));
    auto frame = udp_frame(300);
    for (std::uint16_t i = 0; i < 2; ++i) {
        put(kFirstData + i, 0, frame);
        push_tx({grant_ref_t(kFirstData + i), 0, 0, i, 300});
    }
    publish_tx();
    ASSERT_TRUE(back_->transmit());
    EXPECT_EQ(port_.frames.size(), 1u);  // the bucket was full: it went, in debt
    back_->set_tx_limit(TokenBucket());
    ASSERT_TRUE(back_->transmit());
    EXPECT_EQ(port_.frames.size(), 2u);
    EXPECT_EQ(tx_responses().size(), 2u);
}

}  // namespace
}  // namespace domus::backends
