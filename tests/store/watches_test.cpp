// Tests for store/watches and watch delivery through the Store: prefix matching,
// relative paths, the initial event, removal, specials, permissions, reset.
#include "store/watches.hpp"

#include <gtest/gtest.h>

#include "client.hpp"
#include "store/error.hpp"

namespace domus::store {
namespace {

using testing::Client;
using testing::kOk;
using testing::strings;
using testing::z;
using Events = std::vector<std::string>;

TEST(WatchMatchTest, PrefixRule) {
    Watch w{"/a", "t", false};
    EXPECT_EQ(event_path(w, Change{"/a", {}, {}, false}, "/local/domain/0"), "/a");
    EXPECT_EQ(event_path(w, Change{"/a/b", {}, {}, false}, "/local/domain/0"), "/a/b");
    EXPECT_FALSE(event_path(w, Change{"/ab", {}, {}, false}, "/local/domain/0"));
    EXPECT_FALSE(event_path(w, Change{"/", {}, {}, false}, "/local/domain/0"));
    // Removal of an ancestor reports the watch's own path.
    Watch deep{"/a/b/c", "t", false};
    EXPECT_EQ(event_path(deep, Change{"/a", {}, {}, true}, "/local/domain/0"), "/a/b/c");
    EXPECT_FALSE(event_path(deep, Change{"/a", {}, {}, false}, "/local/domain/0"));
}

TEST(WatchMatchTest, RelativeAndSpecial) {
    Watch rel{"/local/domain/3/control", "t", true};
    EXPECT_EQ(event_path(rel, Change{"/local/domain/3/control/shutdown", {}, {}, false},
                         "/local/domain/3"),
              "control/shutdown");
    Watch special{"@releaseDomain", "t", false};
    EXPECT_EQ(event_path(special, Change{"@releaseDomain", {}, {}, false}, "/"), "@releaseDomain");
    EXPECT_FALSE(event_path(special, Change{"@introduceDomain", {}, {}, false}, "/"));
    Watch root{"/", "t", false};
    EXPECT_FALSE(event_path(root, Change{"@introduceDomain", {}, {}, false}, "/"));
}

TEST(WatchListTest, AddRemoveLimits) {
    WatchList list;
    ASSERT_TRUE(list.add({"/a", "1", false}, 2));
    ASSERT_TRUE(list.add({"/a", "2", false}, 2));  // same path, other token
    auto dup = list.add({"/a", "1", false}, 0);
    ASSERT_FALSE(dup);
    EXPECT_EQ(xs_error_of(dup.error()), XsError::Exist);
    auto full = list.add({"/b", "1", false}, 2);
    ASSERT_FALSE(full);
    EXPECT_EQ(xs_error_of(full.error()), XsError::NoSpc);
    EXPECT_TRUE(list.remove("/a", "1"));
    EXPECT_FALSE(list.remove("/a", "1"));
    EXPECT_EQ(list.size(), 1u);
}

// A store and a dom0 connection on it.
class StoreWatchTest : public ::testing::Test {
protected:
    Store store;
    Client dom0{store, 0, true};
};

TEST_F(StoreWatchTest, InitialEventAfterOkThenChanges) {
    ASSERT_EQ(dom0.watch("/a", "tok"), kOk);
    EXPECT_EQ(dom0.events(), Events{"/a|tok"});
    ASSERT_EQ(dom0.write("/a/b", "1"), kOk);
    ASSERT_EQ(dom0.write("/ab", "1"), kOk);
    ASSERT_EQ(dom0.write("/a", "x"), kOk);
    EXPECT_EQ(dom0.events(), (Events{"/a/b|tok", "/a|tok"}));
    ASSERT_EQ(dom0.write("/a", "x"), kOk);  // same value still fires
    EXPECT_EQ(dom0.events(), Events{"/a|tok"});
    ASSERT_EQ(dom0.mkdir("/a"), kOk);  // existing: nothing
    EXPECT_TRUE(dom0.events().empty());
}

TEST_F(StoreWatchTest, DuplicateWatchAndUnwatch) {
    ASSERT_EQ(dom0.watch("/a", "t"), kOk);
    EXPECT_EQ(dom0.watch("/a", "t"), "ERR:EEXIST");
    EXPECT_EQ(dom0.call(XS_UNWATCH, strings({"/a", "other"})), "ERR:ENOENT");
    EXPECT_EQ(dom0.call(XS_UNWATCH, strings({"/a", "t"})), kOk);
    dom0.events();
    ASSERT_EQ(dom0.write("/a", "1"), kOk);
    EXPECT_TRUE(dom0.events().empty());
}

TEST_F(StoreWatchTest, RemoveFiresBelowWithWatchPath) {
    ASSERT_EQ(dom0.write("/p/q/r", "1"), kOk);
    ASSERT_EQ(dom0.watch("/p/q/r", "deep"), kOk);
    ASSERT_EQ(dom0.watch("/p", "top"), kOk);
    dom0.events();
    ASSERT_EQ(dom0.rm("/p/q"), kOk);
    Events events = dom0.events();
    std::sort(events.begin(), events.end());
    EXPECT_EQ(events, (Events{"/p/q/r|deep", "/p/q|top"}));
}

TEST_F(StoreWatchTest, RelativeWatchReportsRelativePaths) {
    Client guest(store, 5, false);
    ASSERT_EQ(dom0.mkdir("/local/domain/5/control"), kOk);
    ASSERT_EQ(dom0.set_perms("/local/domain/5/control", {"n5"}), kOk);
    ASSERT_EQ(guest.watch("control/shutdown", "sd"), kOk);
    EXPECT_EQ(guest.events(), Events{"control/shutdown|sd"});
    ASSERT_EQ(dom0.write("/local/domain/5/control/shutdown", "poweroff"), kOk);
    EXPECT_EQ(guest.events(), Events{"control/shutdown|sd"});
    EXPECT_EQ(guest.read("control/shutdown"), "poweroff");
    EXPECT_EQ(guest.call(XS_UNWATCH, strings({"control/shutdown", "sd"})), kOk);
}

TEST_F(StoreWatchTest, EventsOnlyForReadableNodes) {
    Client guest(store, 3, false);
    ASSERT_EQ(dom0.write("/pub/x", ""), kOk);
    ASSERT_EQ(dom0.set_perms("/pub", {"n0", "r3"}), kOk);
    ASSERT_EQ(dom0.set_perms("/pub/x", {"n0", "r3"}), kOk);
    ASSERT_EQ(guest.watch_from_now("/", "all"), kOk);
    ASSERT_EQ(dom0.write("/private", "secret"), kOk);  // inherits n0 from /
    EXPECT_TRUE(guest.events().empty());
    ASSERT_EQ(dom0.write("/pub/x", "1"), kOk);
    EXPECT_EQ(guest.events(), Events{"/pub/x|all"});
    // Losing read access through SET_PERMS is still reported (old perms allowed it).
    ASSERT_EQ(dom0.set_perms("/pub/x", {"n0"}), kOk);
    EXPECT_EQ(guest.events(), Events{"/pub/x|all"});
}

TEST_F(StoreWatchTest, SpecialWatchesPrivilegedUnlessGranted) {
    Client guest(store, 9, false);
    ASSERT_EQ(dom0.watch("@introduceDomain", "i"), kOk);
    ASSERT_EQ(guest.watch("@introduceDomain", "i"), kOk);
    dom0.events();
    guest.events();
    ASSERT_EQ(dom0.call(XS_INTRODUCE, strings({"4", "1234", "5"})), kOk);
    EXPECT_EQ(dom0.events(), Events{"@introduceDomain|i"});
    EXPECT_TRUE(guest.events().empty());
    ASSERT_EQ(dom0.set_perms("@introduceDomain", {"n0", "r9"}), kOk);
    EXPECT_EQ(dom0.call(XS_GET_PERMS, z("@introduceDomain")), strings({"n0", "r9"}));
    ASSERT_EQ(dom0.call(XS_INTRODUCE, strings({"6", "1", "2"})), kOk);
    EXPECT_EQ(guest.events(), Events{"@introduceDomain|i"});
    EXPECT_EQ(guest.set_perms("@introduceDomain", {"b9"}), "ERR:EACCES");
}

TEST_F(StoreWatchTest, ReleaseDomainFiresOncePerShutdownUntilResume) {
    ASSERT_EQ(dom0.call(XS_INTRODUCE, strings({"4", "1234", "5"})), kOk);
    ASSERT_EQ(dom0.watch_from_now("@releaseDomain", "r"), kOk);
    store.domain_shutdown(4);
    store.domain_shutdown(4);
    EXPECT_EQ(dom0.events(), Events{"@releaseDomain|r"});
    ASSERT_EQ(dom0.call(XS_RESUME, z("4")), kOk);
    store.domain_shutdown(4);
    EXPECT_EQ(dom0.events(), Events{"@releaseDomain|r"});
    ASSERT_EQ(dom0.call(XS_RELEASE, z("4")), kOk);
    EXPECT_EQ(dom0.events(), Events{"@releaseDomain|r"});
}

TEST_F(StoreWatchTest, ResetWatchesDropsWatchesAndTransactions) {
    ASSERT_EQ(dom0.watch("/a", "t"), kOk);
    std::uint32_t tx = dom0.start();
    dom0.events();
    ASSERT_EQ(dom0.call(XS_RESET_WATCHES, z("")), kOk);
    EXPECT_EQ(dom0.connection().watches().size(), 0u);
    EXPECT_EQ(dom0.read("/", tx), "ERR:ENOENT");
    ASSERT_EQ(dom0.write("/a", "1"), kOk);
    EXPECT_TRUE(dom0.events().empty());
}

TEST_F(StoreWatchTest, IdenticalPendingEventsCoalesce) {
    ASSERT_EQ(dom0.watch_from_now("/a", "t"), kOk);
    ASSERT_EQ(dom0.write("/a", "1"), kOk);
    ASSERT_EQ(dom0.write("/a", "2"), kOk);
    EXPECT_EQ(dom0.events(), Events{"/a|t"});
}

TEST_F(StoreWatchTest, BadWatchArguments) {
    EXPECT_EQ(dom0.call(XS_WATCH, z("/a")), "ERR:EINVAL");
    EXPECT_EQ(dom0.call(XS_WATCH, strings({"/a//b", "t"})), "ERR:EINVAL");
    EXPECT_EQ(dom0.call(XS_WATCH, std::string("/a\0t", 4)), "ERR:EINVAL");  // unterminated
    EXPECT_TRUE(dom0.events().empty());
}

}  // namespace
}  // namespace domus::store
