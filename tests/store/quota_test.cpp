// Tests for store/quotas as the Store enforces them: an unprivileged domain runs
// out of nodes, watches, transactions, node size and permissions; dom0 does not.
#include "store/quotas.hpp"

#include <gtest/gtest.h>

#include "client.hpp"

namespace domus::store {
namespace {

using testing::Client;
using testing::kOk;
using testing::strings;
using testing::z;

Quotas small() {
    Quotas q;
    q.nodes_per_domain = 5;
    q.watches_per_connection = 3;
    q.transactions_per_connection = 2;
    q.nodes_per_transaction = 8;
    q.permissions_per_node = 2;
    q.relative_path_max = 16;
    q.node_size = 64;
    return q;
}

struct QuotaTest : ::testing::Test {
    Store store{small()};
    Client dom0{store, 0, true};
    Client guest{store, 5, false};

    void SetUp() override {
        ASSERT_EQ(dom0.mkdir("/local/domain/5/data"), kOk);
        ASSERT_EQ(dom0.set_perms("/local/domain/5", {"n0", "r5"}), kOk);
        ASSERT_EQ(dom0.set_perms("/local/domain/5/data", {"n5"}), kOk);
    }
};

TEST_F(QuotaTest, DefaultsMatchXenstored) {
    Quotas q;
    EXPECT_EQ(q.nodes_per_domain, 1000u);
    EXPECT_EQ(q.watches_per_connection, 128u);
    EXPECT_EQ(q.transactions_per_connection, 10u);
    EXPECT_EQ(q.nodes_per_transaction, 1024u);
    EXPECT_EQ(q.permissions_per_node, 5u);
    EXPECT_EQ(q.relative_path_max, 2048u);
    EXPECT_EQ(q.node_size, 2048u);
}

TEST_F(QuotaTest, NodeQuotaExhaustedGuestOnly) {
    // data itself is owned by 5: 1 node. Four more fit, the fifth does not.
    for (int i = 0; i < 4; ++i)
        ASSERT_EQ(guest.write("data/n" + std::to_string(i), "x"), kOk);
    EXPECT_EQ(guest.write("data/overflow", "x"), "ERR:ENOSPC");
    EXPECT_EQ(guest.read("data/overflow"), "ERR:ENOENT");  // nothing half-created
    // A multi-node create is refused as a whole.
    ASSERT_EQ(guest.rm("data/n0"), kOk);
    EXPECT_EQ(guest.write("data/p/q", "x"), "ERR:ENOSPC");
    EXPECT_EQ(guest.write("data/p", "x"), kOk);
    // Dom0 is unaffected, even creating nodes it gives to the guest.
    for (int i = 0; i < 20; ++i)
        ASSERT_EQ(dom0.write("/local/domain/5/data/d" + std::to_string(i), ""), kOk);
    for (int i = 0; i < 20; ++i)
        ASSERT_EQ(dom0.write("/dom0/n" + std::to_string(i), ""), kOk);
}

TEST_F(QuotaTest, WatchQuota) {
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(guest.watch("data", std::to_string(i)), kOk);
    EXPECT_EQ(guest.watch("data", "3"), "ERR:ENOSPC");
    for (int i = 0; i < 10; ++i)
        ASSERT_EQ(dom0.watch("/", std::to_string(i)), kOk);
}

TEST_F(QuotaTest, TransactionQuota) {
    guest.start();
    guest.start();
    EXPECT_EQ(guest.call(XS_TRANSACTION_START, z("")), "ERR:ENOSPC");
    for (int i = 0; i < 5; ++i)
        dom0.start();
}

TEST_F(QuotaTest, TransactionNodeQuota) {
    std::uint32_t tx = guest.start();
    std::string last;
    for (int i = 0; i < 10 && last != "ERR:ENOSPC"; ++i)
        last = guest.read("data", tx);
    for (int i = 0; i < 10 && last != "ERR:ENOSPC"; ++i)
        last = guest.write("data/t" + std::to_string(i), "", tx);
    EXPECT_EQ(last, "ERR:ENOSPC");
}

TEST_F(QuotaTest, NodeSizeQuota) {
    EXPECT_EQ(guest.write("data/big", std::string(100, 'v')), "ERR:ENOSPC");
    EXPECT_EQ(guest.write("data/big", std::string(40, 'v')), kOk);
    EXPECT_EQ(guest.write("data/big", std::string(100, 'v')), "ERR:ENOSPC");
    EXPECT_EQ(guest.read("data/big"), std::string(40, 'v'));
    EXPECT_EQ(dom0.write("/local/domain/5/data/big", std::string(3000, 'v')), kOk);
}

TEST_F(QuotaTest, PermissionsPerNode) {
    ASSERT_EQ(guest.write("data/p", ""), kOk);
    EXPECT_EQ(guest.set_perms("data/p", {"n5", "r1", "r2"}), "ERR:ENOSPC");
    EXPECT_EQ(guest.set_perms("data/p", {"n5", "r1"}), kOk);
    EXPECT_EQ(dom0.set_perms("/local/domain/5/data/p", {"n5", "r1", "r2", "r3", "r4", "r6"}), kOk);
}

TEST_F(QuotaTest, RelativePathLength) {
    EXPECT_EQ(guest.write("data/" + std::string(11, 'a'), ""), kOk);           // 16
    EXPECT_EQ(guest.write("data/" + std::string(12, 'a'), ""), "ERR:EINVAL");  // 17
    EXPECT_EQ(dom0.write("data/" + std::string(100, 'a'), ""), kOk);           // dom0 exempt
}

}  // namespace
}  // namespace domus::store
