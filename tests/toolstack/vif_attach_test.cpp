// network-attach's bookkeeping: a new vif's devid and MAC settled against the domain's
// vifs, clashes refused, and network-detach's lookup by devid or MAC.
#include "toolstack/vif_attach.hpp"

#include <gtest/gtest.h>

namespace domus::toolstack {
namespace {

const std::vector<std::string> kVifs = {"mac=00:16:3e:00:00:01,bridge=br0,devid=0",
                                        "mac=00:16:3e:00:00:02,bridge=br0,devid=2"};

TEST(VifAttachTest, ANewVifTakesTheLowestFreeDevidAndAMacUnderXensPrefix) {
    auto spec = settle_new_vif(kVifs, "bridge=br1", 4);
    ASSERT_TRUE(spec) << spec.error().message;
    EXPECT_EQ(*spec->devid, 1u);
    ASSERT_TRUE(spec->mac);
    EXPECT_EQ(config::format_mac(*spec->mac).rfind("00:16:3e:", 0), 0u);
    auto next = settle_new_vif({}, "bridge=br1", 4);
    ASSERT_TRUE(next);
    EXPECT_EQ(*next->devid, 0u);
    // What was given is kept.
    auto given = settle_new_vif(kVifs, "mac=00:16:3e:00:00:09,devid=7", 4);
    ASSERT_TRUE(given) << given.error().message;
    EXPECT_EQ(*given->devid, 7u);
    EXPECT_EQ(config::format_mac(*given->mac), "00:16:3e:00:00:09");
}

TEST(VifAttachTest, ADevidMacOrNameInUseIsRefused) {
    auto devid = settle_new_vif(kVifs, "devid=2", 4);
    ASSERT_FALSE(devid);
    EXPECT_NE(devid.error().message.find("devid: 2 is used by another vif"), std::string::npos)
        << devid.error().message;
    auto mac = settle_new_vif(kVifs, "mac=00:16:3e:00:00:02", 4);
    ASSERT_FALSE(mac);
    EXPECT_NE(mac.error().message.find("mac: 00:16:3e:00:00:02 is used"), std::string::npos)
        << mac.error().message;
    auto bad = settle_new_vif(kVifs, "colour=red", 4);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("unknown key \"colour\""), std::string::npos);
}

TEST(VifAttachTest, AVifIsFoundByItsDevidOrItsMacInAnyCase) {
    EXPECT_EQ(*find_vif(kVifs, "2"), 1u);
    EXPECT_EQ(*find_vif(kVifs, "0"), 0u);
    EXPECT_EQ(*find_vif(kVifs, "00:16:3E:00:00:02"), 1u);
    auto missing = find_vif(kVifs, "1");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("the domain has no vif 1"), std::string::npos);
    EXPECT_FALSE(find_vif(kVifs, "00:16:3e:00:00:07"));
}

}  // namespace
}  // namespace domus::toolstack
