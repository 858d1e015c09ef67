// The netif ABI against Xen's io/netif.h as Linux's netfront and netback use it: field
// offsets, slot sizes and the ring sizes of one page.
#include <gtest/gtest.h>

#include <cstddef>

#include <domus/abi/netif.h>

namespace {

TEST(NetifAbiTest, FieldsSitWhereXensHeaderPutsThem) {
    EXPECT_EQ(offsetof(netif_tx_request, gref), 0u);
    EXPECT_EQ(offsetof(netif_tx_request, offset), 4u);
    EXPECT_EQ(offsetof(netif_tx_request, flags), 6u);
    EXPECT_EQ(offsetof(netif_tx_request, id), 8u);
    EXPECT_EQ(offsetof(netif_tx_request, size), 10u);
    EXPECT_EQ(offsetof(netif_extra_info, u.gso.size), 2u);
    EXPECT_EQ(offsetof(netif_extra_info, u.gso.type), 4u);
    EXPECT_EQ(offsetof(netif_extra_info, u.gso.features), 6u);
    EXPECT_EQ(offsetof(netif_rx_request, gref), 4u);
    EXPECT_EQ(offsetof(netif_rx_response, offset), 2u);
    EXPECT_EQ(offsetof(netif_rx_response, flags), 4u);
    EXPECT_EQ(offsetof(netif_rx_response, status), 6u);
}

TEST(NetifAbiTest, OnePageRingsHold256Slots) {
    EXPECT_EQ(ring_nr_entries(4096, sizeof(netif_tx_sring_entry)), unsigned(NET_TX_RING_SIZE));
    EXPECT_EQ(ring_nr_entries(4096, sizeof(netif_rx_sring_entry)), unsigned(NET_RX_RING_SIZE));
    // A packet of the most slots always accepted fits the ring with its extra-info slot.
    EXPECT_LT(XEN_NETIF_NR_SLOTS_MIN + 1, NET_TX_RING_SIZE);
}

TEST(NetifAbiTest, FlagsAndStatusesAreXens) {
    EXPECT_EQ(NETTXF_csum_blank | NETTXF_data_validated | NETTXF_more_data | NETTXF_extra_info,
              0xFu);
    EXPECT_EQ(NETRXF_gso_prefix, 0x10u);
    EXPECT_EQ(XEN_NETIF_RSP_DROPPED, -2);
    EXPECT_EQ(XEN_NETIF_RSP_NULL, 1);
    EXPECT_EQ(XEN_NETIF_GSO_TYPE_TCPV6, 2);
}

}  // namespace
