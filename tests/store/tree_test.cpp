// Tests for store/node_tree, store/permissions and store/tree_ops: the tree, the
// permission matrix, inheritance, ENOENT vs EACCES, RM and MKDIR rules.
#include "store/node_tree.hpp"

#include <gtest/gtest.h>

#include "store/error.hpp"
#include "store/tree_ops.hpp"

namespace domus::store {
namespace {

Caller dom0{0, true, std::nullopt};
Caller guest(DomainId d) {
    return Caller{d, false, std::nullopt};
}

struct TreeFixture : ::testing::Test {
    NodeTree tree;
    Quotas quotas;
    std::vector<Change> changes;

    OpContext as(const Caller& caller) { return OpContext{tree, caller, quotas, changes}; }
    template <class T>
    XsError err(const Result<T>& r) {
        return r ? XsError::Io : xs_error_of(r.error());
    }
    void must(Result<void> r) { ASSERT_TRUE(r) << r.error().message; }
    void perms(const std::string& path, PermissionList list) {
        auto op = as(dom0);
        must(set_perms(op, path, std::move(list)));
    }
};

TEST(PermissionTest, ParseAndFormat) {
    auto p = parse_permission("b7");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->domid, 7);
    EXPECT_EQ(p->access, kAccessRead | kAccessWrite);
    EXPECT_EQ(format_permission(*p), "b7");
    EXPECT_EQ(format_permission({3, kAccessNone}), "n3");
    for (const char* bad : {"", "r", "x1", "r-1", "r65536", "r1a", "rr"})
        EXPECT_FALSE(parse_permission(bad)) << bad;
    EXPECT_TRUE(parse_permission("w65535"));
}

TEST(PermissionTest, AccessMatrix) {
    PermissionList list{
        {5, kAccessNone}, {6, kAccessRead}, {7, kAccessWrite}, {8, kAccessRead | kAccessWrite}};
    EXPECT_EQ(access_for(list, guest(5)), kAccessRead | kAccessWrite | kAccessOwner);  // owner
    EXPECT_EQ(access_for(list, guest(6)), kAccessRead);
    EXPECT_EQ(access_for(list, guest(7)), kAccessWrite);
    EXPECT_EQ(access_for(list, guest(8)), kAccessRead | kAccessWrite);
    EXPECT_EQ(access_for(list, guest(9)), kAccessNone);  // falls back to the owner letter
    EXPECT_EQ(access_for(list, dom0), kAccessRead | kAccessWrite | kAccessOwner);
    list[0].access = kAccessRead;
    EXPECT_EQ(access_for(list, guest(9)), kAccessRead);
    // First matching entry wins.
    PermissionList dup{{1, kAccessNone}, {2, kAccessRead}, {2, kAccessWrite}};
    EXPECT_EQ(access_for(dup, guest(2)), kAccessRead);
    // SET_TARGET: acts like the owner for nodes its target owns.
    EXPECT_NE(access_for(list, Caller{20, false, DomainId{5}}) & kAccessOwner, 0);
}

TEST_F(TreeFixture, RootExistsOwnedByDom0) {
    const Node* root = tree.lookup("/");
    ASSERT_NE(root, nullptr);
    EXPECT_EQ(root->owner(), 0);
    EXPECT_NE(root->generation, 0u);
}

TEST_F(TreeFixture, WriteCreatesParentsAndReads) {
    auto op = as(dom0);
    must(write_value(op, "/a/b/c", "v"));
    auto value = read_value(op, "/a/b/c");
    ASSERT_TRUE(value);
    EXPECT_EQ(*value, "v");
    EXPECT_EQ(read_value(op, "/a/b").value(), "");
    EXPECT_EQ(tree.lookup("/a")->children, std::vector<std::string>{"b"});
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(changes[0].path, "/a/b/c");
}

TEST_F(TreeFixture, BinaryValuesRoundTrip) {
    auto op = as(dom0);
    std::string bytes("\0\x01\xff", 3);
    must(write_value(op, "/bin", bytes));
    EXPECT_EQ(read_value(op, "/bin").value(), bytes);
}

TEST_F(TreeFixture, GenerationChangesOnWriteAndChildAdd) {
    auto op = as(dom0);
    must(write_value(op, "/a", "1"));
    auto g1 = tree.lookup("/a")->generation;
    must(write_value(op, "/a", "1"));
    auto g2 = tree.lookup("/a")->generation;
    EXPECT_NE(g1, g2);
    must(write_value(op, "/a/child", ""));
    EXPECT_NE(tree.lookup("/a")->generation, g2);
}

TEST_F(TreeFixture, UnprivilegedCreatorBecomesOwnerAndInherits) {
    perms("/", {{0, kAccessNone}});
    auto admin = as(dom0);
    must(make_directory(admin, "/local/domain/5"));
    perms("/local/domain/5", {{0, kAccessNone}, {5, kAccessRead}});
    must(make_directory(admin, "/local/domain/5/data"));
    perms("/local/domain/5/data", {{5, kAccessNone}, {9, kAccessRead}});
    auto g = as(guest(5));
    must(write_value(g, "/local/domain/5/data/x/y", "1"));
    const Node* y = tree.lookup("/local/domain/5/data/x/y");
    ASSERT_NE(y, nullptr);
    EXPECT_EQ(y->perms, (PermissionList{{5, kAccessNone}, {9, kAccessRead}}));
    // A privileged creator keeps the parent's owner.
    must(write_value(admin, "/local/domain/5/data/z", ""));
    EXPECT_EQ(tree.lookup("/local/domain/5/data/z")->owner(), 5);
}

TEST_F(TreeFixture, GuestCannotWriteReadOnlyHome) {
    auto admin = as(dom0);
    must(make_directory(admin, "/local/domain/5"));
    perms("/local/domain/5", {{0, kAccessNone}, {5, kAccessRead}});
    auto g = as(guest(5));
    EXPECT_EQ(err(write_value(g, "/local/domain/5/name", "x")), XsError::Acces);
    EXPECT_EQ(err(make_directory(g, "/local/domain/5")), XsError::Acces);
    EXPECT_EQ(err(remove_subtree(g, "/local/domain/5")), XsError::Acces);
    EXPECT_TRUE(read_node(g, "/local/domain/5"));
}

TEST_F(TreeFixture, MissingNodeEnoentOrEacces) {
    auto admin = as(dom0);
    must(make_directory(admin, "/secret"));
    perms("/secret", {{0, kAccessNone}});
    must(make_directory(admin, "/open"));
    perms("/open", {{0, kAccessRead}});
    auto g = as(guest(4));
    EXPECT_EQ(err(read_value(g, "/open/missing/deeper")), XsError::NoEnt);
    EXPECT_EQ(err(read_value(g, "/secret/missing")), XsError::Acces);
    EXPECT_EQ(err(read_value(g, "/secret")), XsError::Acces);
    EXPECT_EQ(err(read_value(admin, "/secret/missing")), XsError::NoEnt);
    EXPECT_EQ(err(write_value(g, "/secret/x", "")), XsError::Acces);
    EXPECT_EQ(err(write_value(g, "/open/x", "")), XsError::Acces);  // read-only ancestor
}

TEST_F(TreeFixture, WriteOnlyAccess) {
    auto admin = as(dom0);
    must(write_value(admin, "/w", "old"));
    perms("/w", {{0, kAccessNone}, {3, kAccessWrite}});
    auto g = as(guest(3));
    must(write_value(g, "/w", "new"));
    EXPECT_EQ(err(read_value(g, "/w")), XsError::Acces);
    EXPECT_EQ(read_value(admin, "/w").value(), "new");
}

TEST_F(TreeFixture, RmRules) {
    auto op = as(dom0);
    must(write_value(op, "/a/b/c", "1"));
    EXPECT_EQ(err(remove_subtree(op, "/")), XsError::Inval);
    must(remove_subtree(op, "/a/nothere"));  // parent exists
    EXPECT_EQ(err(remove_subtree(op, "/x/y")), XsError::NoEnt);
    must(remove_subtree(op, "/a/b"));
    EXPECT_EQ(tree.lookup("/a/b/c"), nullptr);
    EXPECT_EQ(tree.lookup("/a/b"), nullptr);
    EXPECT_TRUE(tree.lookup("/a")->children.empty());
    EXPECT_TRUE(changes.back().subtree_removed);
    EXPECT_EQ(tree.size(), 2u);
    EXPECT_TRUE(tree.consistent());
}

TEST_F(TreeFixture, MkdirKeepsValue) {
    auto op = as(dom0);
    must(write_value(op, "/k", "v"));
    changes.clear();
    must(make_directory(op, "/k"));
    EXPECT_EQ(read_value(op, "/k").value(), "v");
    EXPECT_TRUE(changes.empty());  // MKDIR of an existing node fires nothing
}

TEST_F(TreeFixture, SetPermsOwnerRules) {
    auto admin = as(dom0);
    must(make_directory(admin, "/d"));
    perms("/d", {{5, kAccessNone}, {6, kAccessRead | kAccessWrite}});
    auto owner = as(guest(5));
    must(set_perms(owner, "/d", {{5, kAccessRead}}));
    EXPECT_EQ(err(set_perms(owner, "/d", {{6, kAccessNone}})), XsError::Perm);
    EXPECT_EQ(err(set_perms(owner, "/d", {})), XsError::Inval);
    perms("/d", {{5, kAccessNone}, {6, kAccessRead | kAccessWrite}});
    auto writer = as(guest(6));
    EXPECT_EQ(err(set_perms(writer, "/d", {{6, kAccessNone}})), XsError::Acces);
    EXPECT_EQ(err(set_perms(owner, "/d/missing", {{5, kAccessNone}})), XsError::NoEnt);
    EXPECT_EQ(err(set_perms(owner, "/missing", {{5, kAccessNone}})), XsError::Acces);  // "/" is n0
}

TEST_F(TreeFixture, OwnedNodeAccounting) {
    auto admin = as(dom0);
    must(make_directory(admin, "/g"));
    perms("/g", {{0, kAccessNone}, {4, kAccessRead | kAccessWrite}});
    auto g = as(guest(4));
    must(write_value(g, "/g/a/b", ""));
    EXPECT_EQ(tree.owned_nodes(4), 2u);
    must(remove_subtree(g, "/g/a"));
    EXPECT_EQ(tree.owned_nodes(4), 0u);
}

}  // namespace
}  // namespace domus::store
