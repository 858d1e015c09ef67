// Tests for store/transaction: isolation, commit, abort, EAGAIN on conflicts and a
// successful retry, both on the Transaction class and through the Store.
#include "store/transaction.hpp"

#include <gtest/gtest.h>

#include "client.hpp"
#include "store/error.hpp"
#include "store/tree_ops.hpp"

namespace domus::store {
namespace {

using testing::Client;
using testing::kOk;
using testing::z;

Caller dom0{0, true, std::nullopt};

// One tree that tests change `direct`ly and through transactions (`in(tx)`), as dom0.
class TransactionTest : public ::testing::Test {
protected:
    OpContext in(Transaction& tx) { return OpContext{tx, dom0, quotas, changes}; }

    NodeTree tree;
    Quotas quotas;
    std::vector<Change> changes;
    OpContext direct{tree, dom0, quotas, changes};
};

TEST_F(TransactionTest, ViewIsolatedUntilCommit) {
    Transaction tx(tree, 1);
    OpContext in_tx = in(tx);
    ASSERT_TRUE(write_value(in_tx, "/a/b", "1"));
    EXPECT_EQ(read_value(in_tx, "/a/b").value(), "1");
    EXPECT_EQ(tree.lookup("/a"), nullptr);
    ASSERT_TRUE(tx.commit());
    ASSERT_NE(tree.lookup("/a/b"), nullptr);
    EXPECT_EQ(tree.lookup("/a/b")->value, "1");
    EXPECT_EQ(tree.lookup("/")->children, std::vector<std::string>{"a"});
}

TEST_F(TransactionTest, ConflictOnReadNode) {
    ASSERT_TRUE(write_value(direct, "/x", "0"));
    Transaction tx(tree, 1);
    OpContext in_tx = in(tx);
    ASSERT_TRUE(read_value(in_tx, "/x"));
    ASSERT_TRUE(write_value(in_tx, "/y", "1"));
    ASSERT_TRUE(write_value(direct, "/x", "changed"));
    auto result = tx.commit();
    ASSERT_FALSE(result);
    EXPECT_EQ(xs_error_of(result.error()), XsError::Again);
    EXPECT_EQ(tree.lookup("/y"), nullptr);  // nothing applied
}

// C xenstored's isolation: what the transaction read stays as it read it, whatever
// another connection writes meanwhile (and the commit then fails with EAGAIN).
TEST_F(TransactionTest, ReadsSeeTheValueOfTheFirstReadNotLaterWrites) {
    ASSERT_TRUE(write_value(direct, "/x", "before"));
    ASSERT_TRUE(write_value(direct, "/d/one", "1"));
    Transaction tx(tree, 1);
    OpContext in_tx = in(tx);
    EXPECT_EQ(read_value(in_tx, "/x").value(), "before");
    EXPECT_EQ(read_node(in_tx, "/d").value()->children, std::vector<std::string>{"one"});
    EXPECT_FALSE(read_value(in_tx, "/gone-later-made"));
    ASSERT_TRUE(write_value(direct, "/x", "after"));
    ASSERT_TRUE(write_value(direct, "/d/two", "2"));
    ASSERT_TRUE(write_value(direct, "/gone-later-made", "now"));
    EXPECT_EQ(read_value(in_tx, "/x").value(), "before");
    EXPECT_EQ(read_node(in_tx, "/d").value()->children, std::vector<std::string>{"one"});
    EXPECT_FALSE(read_value(in_tx, "/gone-later-made"));
    ASSERT_TRUE(write_value(in_tx, "/x", "mine"));
    EXPECT_EQ(read_value(in_tx, "/x").value(), "mine");
    auto result = tx.commit();
    ASSERT_FALSE(result);
    EXPECT_EQ(xs_error_of(result.error()), XsError::Again);
    EXPECT_EQ(tree.lookup("/x")->value, "after");
}

TEST_F(TransactionTest, ConflictOnNodeCreatedMeanwhile) {
    Transaction tx(tree, 1);
    OpContext in_tx = in(tx);
    EXPECT_FALSE(read_value(in_tx, "/new"));  // read as absent
    ASSERT_TRUE(write_value(direct, "/new", "v"));
    EXPECT_FALSE(tx.commit());
}

TEST_F(TransactionTest, UnrelatedChangeDoesNotConflict) {
    ASSERT_TRUE(write_value(direct, "/a/x", "0"));
    ASSERT_TRUE(write_value(direct, "/b/y", "0"));
    Transaction tx(tree, 1);
    OpContext in_tx = in(tx);
    ASSERT_TRUE(write_value(in_tx, "/a/x", "1"));
    ASSERT_TRUE(write_value(direct, "/b/y", "2"));
    EXPECT_TRUE(tx.commit());
    EXPECT_EQ(tree.lookup("/a/x")->value, "1");
}

TEST_F(TransactionTest, RmInsideTransaction) {
    ASSERT_TRUE(write_value(direct, "/r/s/t", "0"));
    Transaction tx(tree, 1);
    OpContext in_tx = in(tx);
    ASSERT_TRUE(remove_subtree(in_tx, "/r"));
    EXPECT_FALSE(read_value(in_tx, "/r/s/t"));
    EXPECT_NE(tree.lookup("/r/s/t"), nullptr);
    ASSERT_TRUE(tx.commit());
    EXPECT_EQ(tree.lookup("/r/s/t"), nullptr);
    EXPECT_EQ(tree.lookup("/r"), nullptr);
    EXPECT_EQ(tree.size(), 1u);
    EXPECT_TRUE(tree.consistent());
}

// A store and a dom0 connection `a` on it.
class StoreTransactionTest : public ::testing::Test {
protected:
    Store store;
    Client a{store, 0, true};
};

TEST_F(StoreTransactionTest, TwoConnectionsEagainThenRetrySucceeds) {
    Client b(store, 0, true);
    ASSERT_EQ(a.write("/counter", "1"), kOk);

    std::uint32_t tx = a.start();
    ASSERT_NE(tx, 0u);
    EXPECT_EQ(a.read("/counter", tx), "1");
    ASSERT_EQ(a.write("/counter", "2", tx), kOk);
    EXPECT_EQ(b.read("/counter"), "1");  // not visible outside
    ASSERT_EQ(b.write("/counter", "10"), kOk);
    EXPECT_EQ(a.end(tx, true), "ERR:EAGAIN");
    EXPECT_EQ(a.read("/counter"), "10");

    // Retry from the start.
    tx = a.start();
    EXPECT_EQ(a.read("/counter", tx), "10");
    ASSERT_EQ(a.write("/counter", "11", tx), kOk);
    EXPECT_EQ(a.end(tx, true), kOk);
    EXPECT_EQ(b.read("/counter"), "11");
}

TEST_F(StoreTransactionTest, AbortDiscards) {
    std::uint32_t tx = a.start();
    ASSERT_EQ(a.write("/gone", "x", tx), kOk);
    EXPECT_EQ(a.end(tx, false), kOk);
    EXPECT_EQ(a.read("/gone"), "ERR:ENOENT");
    EXPECT_EQ(a.end(tx, true), "ERR:ENOENT");  // id no longer valid
}

TEST_F(StoreTransactionTest, IdRules) {
    Client b(store, 0, true);
    std::uint32_t tx = a.start();
    EXPECT_EQ(a.call(XS_TRANSACTION_START, z(""), tx), "ERR:EBUSY");
    EXPECT_EQ(a.call(XS_TRANSACTION_START, z(""), tx + 100), "ERR:ENOENT");
    EXPECT_EQ(a.read("/", tx + 100), "ERR:ENOENT");
    EXPECT_EQ(b.read("/", tx), "ERR:ENOENT");  // ids are per connection
    EXPECT_EQ(a.end(0, true), "ERR:ENOENT");
    EXPECT_EQ(a.call(XS_TRANSACTION_END, z("X"), tx), "ERR:EINVAL");
    Message reply = a.send(XS_READ, z("/"), tx);
    EXPECT_EQ(reply.tx_id, tx);  // echoed
    EXPECT_EQ(reply.req_id, 7u);
}

TEST_F(StoreTransactionTest, WatchEventsOnlyOnCommit) {
    Client watcher(store, 0, true);
    ASSERT_EQ(watcher.watch_from_now("/w", "tok"), kOk);
    std::uint32_t tx = a.start();
    ASSERT_EQ(a.write("/w/x", "1", tx), kOk);
    EXPECT_TRUE(watcher.events().empty());
    ASSERT_EQ(a.end(tx, true), kOk);
    EXPECT_EQ(watcher.events(), std::vector<std::string>{"/w/x|tok"});

    tx = a.start();
    ASSERT_EQ(a.write("/w/y", "1", tx), kOk);
    ASSERT_EQ(a.end(tx, false), kOk);
    EXPECT_TRUE(watcher.events().empty());
}

TEST_F(StoreTransactionTest, DirectoryInsideTransactionSeesOwnWrites) {
    ASSERT_EQ(a.write("/d/one", ""), kOk);
    std::uint32_t tx = a.start();
    ASSERT_EQ(a.write("/d/two", "", tx), kOk);
    EXPECT_EQ(a.call(XS_DIRECTORY, z("/d"), tx), testing::strings({"one", "two"}));
    EXPECT_EQ(a.call(XS_DIRECTORY, z("/d")), testing::strings({"one"}));
}

}  // namespace
}  // namespace domus::store
