// What domusd runs for a vif's host side in each mode, and the refusals, without running
// anything (the integration test runs them in a network namespace).
#include "toolstack/vif_hotplug.hpp"

#include <gtest/gtest.h>

namespace domus::toolstack {
namespace {

config::VifConfig vif(config::VifScript script, std::vector<std::string> ips = {}) {
    config::VifConfig c;
    c.devid = 1;
    c.ifname = "vif3.1";
    c.script = script;
    c.bridge = "br0";
    c.ips = std::move(ips);
    return c;
}

using Argv = std::vector<std::string>;

TEST(VifHotplugTest, BridgeModeJoinsTheBridge) {
    auto commands = vif_online_commands(vif(config::VifScript::bridge), {});
    ASSERT_TRUE(commands);
    ASSERT_EQ(commands->size(), 1u);
    EXPECT_EQ((*commands)[0].argv, (Argv{"ip", "link", "set", "dev", "vif3.1", "master", "br0"}));
    EXPECT_TRUE(vif_offline_commands(vif(config::VifScript::bridge)).empty());
}

TEST(VifHotplugTest, RouteModeBorrowsTheGatewaysAddressAndRoutesEachGuestAddress) {
    auto commands = vif_online_commands(vif(config::VifScript::route, {"10.6.0.2", "10.6.1.9/24"}),
                                        {.gateway_ipv4 = "10.0.0.1"});
    ASSERT_TRUE(commands) << commands.error().message;
    ASSERT_EQ(commands->size(), 3u);
    EXPECT_EQ((*commands)[0].argv, (Argv{"ip", "addr", "add", "10.0.0.1/32", "dev", "vif3.1"}));
    EXPECT_EQ((*commands)[1].argv,
              (Argv{"ip", "route", "add", "10.6.0.2/32", "dev", "vif3.1", "src", "10.0.0.1"}));
    EXPECT_EQ((*commands)[2].argv,
              (Argv{"ip", "route", "add", "10.6.1.9/32", "dev", "vif3.1", "src", "10.0.0.1"}));
    auto no_gateway = vif_online_commands(vif(config::VifScript::route, {"10.6.0.2"}), {});
    ASSERT_FALSE(no_gateway);
    EXPECT_NE(no_gateway.error().message.find("no IPv4 address"), std::string::npos);
}

TEST(VifHotplugTest, NatModeIsTheSubnetsGatewayAndMasqueradesItsOwnTable) {
    auto commands = vif_online_commands(vif(config::VifScript::nat, {"10.5.0.2/24"}), {});
    ASSERT_TRUE(commands) << commands.error().message;
    ASSERT_EQ(commands->size(), 2u);
    EXPECT_EQ((*commands)[0].argv, (Argv{"ip", "addr", "add", "10.5.0.1/24", "dev", "vif3.1"}));
    EXPECT_EQ((*commands)[1].argv, (Argv{"nft", "-f", "-"}));
    const std::string& rules = (*commands)[1].input;
    EXPECT_NE(rules.find("table ip domus-vif3.1"), std::string::npos) << rules;
    EXPECT_NE(rules.find("ip saddr 10.5.0.0/24 oifname != \"vif3.1\" masquerade"),
              std::string::npos)
        << rules;
    auto offline = vif_offline_commands(vif(config::VifScript::nat, {"10.5.0.2/24"}));
    ASSERT_EQ(offline.size(), 1u);
    EXPECT_EQ(offline[0].argv, (Argv{"nft", "delete", "table", "ip", "domus-vif3.1"}));
}

TEST(VifHotplugTest, TheNatGatewayAvoidsTheGuestsAddress) {
    EXPECT_EQ(*nat_gateway("10.5.0.2"), "10.5.0.1/24");  // /24 when none is given
    EXPECT_EQ(*nat_gateway("10.5.0.1/24"), "10.5.0.2/24");
    EXPECT_EQ(*nat_gateway("172.16.8.77/20"), "172.16.0.1/20");
    EXPECT_EQ(*nat_gateway("10.0.0.6/30"), "10.0.0.5/30");
    EXPECT_FALSE(nat_gateway("10.0.0.6/31"));
    EXPECT_FALSE(nat_gateway("10.0.0.300"));
    EXPECT_FALSE(nat_gateway("10.0.0.3/x"));
}

}  // namespace
}  // namespace domus::toolstack
