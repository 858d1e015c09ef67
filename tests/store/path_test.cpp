// Tests for store/path: validation, relative resolution, prefix relations.
#include "store/path.hpp"

#include <gtest/gtest.h>

#include "store/error.hpp"

namespace domus::store {
namespace {

PathRules rules(bool special = false, std::size_t relative_max = 0) {
    return PathRules{special, relative_max};
}

TEST(PathTest, AcceptsAbsoluteAndRoot) {
    auto root = resolve_path("/", 3, rules());
    ASSERT_TRUE(root);
    EXPECT_EQ(root->path, "/");
    auto abs = resolve_path("/local/domain/3/device-x_y@z", 3, rules());
    ASSERT_TRUE(abs);
    EXPECT_FALSE(abs->relative);
}

TEST(PathTest, ResolvesRelativeAgainstHome) {
    auto rel = resolve_path("control/shutdown", 7, rules());
    ASSERT_TRUE(rel);
    EXPECT_EQ(rel->path, "/local/domain/7/control/shutdown");
    EXPECT_TRUE(rel->relative);
}

TEST(PathTest, RejectsMalformed) {
    for (const char* bad :
         {"", "/a//b", "/a/", "a/", "//", "/a b", "/a.b", "/a\n", "/ä", "rel//x"}) {
        auto r = resolve_path(bad, 1, rules(true));
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(xs_error_of(r.error()), XsError::Inval);
    }
}

TEST(PathTest, SpecialPathsOnlyWhenAllowed) {
    EXPECT_TRUE(resolve_path("@introduceDomain", 0, rules(true)));
    EXPECT_TRUE(resolve_path("@releaseDomain", 0, rules(true)));
    EXPECT_FALSE(resolve_path("@releaseDomain", 0, rules(false)));
    EXPECT_FALSE(resolve_path("@other", 0, rules(true)));
}

TEST(PathTest, LengthLimits) {
    std::string abs = "/" + std::string(3071, 'a');
    EXPECT_TRUE(resolve_path(abs, 0, rules()));
    EXPECT_FALSE(resolve_path(abs + "b", 0, rules()));
    std::string rel(2048, 'r');
    EXPECT_TRUE(resolve_path(rel, 5, rules(false, 2048)));
    EXPECT_FALSE(resolve_path(rel + "r", 5, rules(false, 2048)));
    // A relative path that fits the quota but not the absolute limit once prefixed.
    EXPECT_FALSE(resolve_path(std::string(3060, 'r'), 5, rules()));
}

TEST(PathTest, ParentAndBaseName) {
    EXPECT_EQ(parent_path("/a/b/c"), "/a/b");
    EXPECT_EQ(parent_path("/a"), "/");
    EXPECT_EQ(base_name("/a/b/c"), "c");
}

TEST(PathTest, SameOrBelow) {
    EXPECT_TRUE(is_same_or_below("/a", "/a"));
    EXPECT_TRUE(is_same_or_below("/a/b", "/a"));
    EXPECT_FALSE(is_same_or_below("/ab", "/a"));
    EXPECT_FALSE(is_same_or_below("/a", "/a/b"));
    EXPECT_TRUE(is_same_or_below("/x", "/"));
}

TEST(PathTest, RelativeToHome) {
    EXPECT_EQ(relative_to_home("/local/domain/5/x/y", "/local/domain/5"), "x/y");
    EXPECT_EQ(relative_to_home("/local/domain/55/x", "/local/domain/5"), "/local/domain/55/x");
    EXPECT_EQ(domain_home(12), "/local/domain/12");
}

}  // namespace
}  // namespace domus::store
