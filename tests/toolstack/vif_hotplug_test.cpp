// What domusd runs for a vif's host side: which hotplug script, with which environment
// and command (without running anything; vif_hotplug_scripts_test runs the scripts).
#include "toolstack/vif_hotplug.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace domus::toolstack {
namespace {

config::VifConfig vif(config::VifScript script, std::vector<std::string> ips = {}) {
    config::VifConfig c;
    c.devid = 1;
    c.mac = {0x00, 0x16, 0x3e, 0x0a, 0x0b, 0x0c};
    c.ifname = "vif3.1";
    c.script = script;
    c.bridge = "br0";
    c.ips = std::move(ips);
    return c;
}

const HotplugPaths kPaths{"/opt/domus/hotplug", "/run/domus-test"};

bool has(const std::vector<std::string>& list, const std::string& item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

bool has_key(const std::vector<std::string>& list, const std::string& key) {
    return std::any_of(list.begin(), list.end(),
                       [&](const std::string& item) { return item.rfind(key + "=", 0) == 0; });
}

TEST(VifHotplugTest, TheBundledScriptOfEachModeOrTheAdministratorsOwn) {
    EXPECT_EQ(hotplug_script(vif(config::VifScript::bridge), kPaths.script_dir),
              "/opt/domus/hotplug/vif-bridge");
    EXPECT_EQ(hotplug_script(vif(config::VifScript::route), kPaths.script_dir),
              "/opt/domus/hotplug/vif-route");
    EXPECT_EQ(hotplug_script(vif(config::VifScript::nat), kPaths.script_dir),
              "/opt/domus/hotplug/vif-nat");
    auto own = vif(config::VifScript::bridge);
    own.script_path = "/etc/domus/my-vif";
    EXPECT_EQ(hotplug_script(own, kPaths.script_dir), "/etc/domus/my-vif");
}

TEST(VifHotplugTest, TheEnvironmentIsXensWithTheStoresValues) {
    auto environment = hotplug_environment(vif(config::VifScript::bridge), 3, kPaths);
    EXPECT_TRUE(has(environment, "vif=vif3.1"));
    EXPECT_TRUE(has(environment, "XENBUS_PATH=/local/domain/0/backend/vif/3/1"));
    EXPECT_TRUE(has(environment, "script=/opt/domus/hotplug/vif-bridge"));
    EXPECT_TRUE(has(environment, "mac=00:16:3e:0a:0b:0c"));
    EXPECT_TRUE(has(environment, "bridge=br0"));
    EXPECT_TRUE(has(environment, "DOMUS_RUN_DIR=/run/domus-test"));
    EXPECT_TRUE(has(environment, "XENSTORED_PATH=/run/domus-test/xenstored/socket"));
    EXPECT_TRUE(has_key(environment, "PATH"));
    EXPECT_FALSE(has_key(environment, "ip"));  // none given: no IP filter, DHCP
    EXPECT_FALSE(has_key(environment, "netdev"));
}

TEST(VifHotplugTest, RoutedAndNattedVifsGetTheirAddressesAndGatewayButNoBridge) {
    auto routed = vif(config::VifScript::route, {"10.6.0.2", "10.6.1.9/24"});
    routed.gatewaydev = "uplink0";
    auto environment = hotplug_environment(routed, 3, kPaths);
    EXPECT_TRUE(has(environment, "ip=10.6.0.2 10.6.1.9/24"));  // space-separated, as Xen's
    EXPECT_TRUE(has(environment, "netdev=uplink0"));           // libxl's name for gatewaydev
    EXPECT_FALSE(has_key(environment, "bridge"));
    auto natted = hotplug_environment(vif(config::VifScript::nat, {"10.5.0.2/24"}), 3, kPaths);
    EXPECT_TRUE(has(natted, "ip=10.5.0.2/24"));
    EXPECT_TRUE(has(natted, "script=/opt/domus/hotplug/vif-nat"));
}

TEST(VifHotplugTest, TheCommandLineStartsFromAnEmptyEnvironmentAndEndsWithTheCommand) {
    auto config = vif(config::VifScript::nat, {"10.5.0.2/24"});
    auto online = hotplug_argv(config, 3, HotplugCommand::online, kPaths);
    ASSERT_GE(online.size(), 4u);
    EXPECT_EQ(online[0], "env");
    EXPECT_EQ(online[1], "-i");
    EXPECT_EQ(online[online.size() - 2], "/opt/domus/hotplug/vif-nat");
    EXPECT_EQ(online.back(), "online");
    auto environment = hotplug_environment(config, 3, kPaths);
    EXPECT_TRUE(std::equal(environment.begin(), environment.end(), online.begin() + 2));
    EXPECT_EQ(hotplug_argv(config, 3, HotplugCommand::offline, kPaths).back(), "offline");
}

TEST(VifHotplugTest, TheScriptsAreBesideTheBinariesUnlessTheEnvironmentSaysOtherwise) {
    ::unsetenv("DOMUS_HOTPLUG_DIR");
    auto dir = default_hotplug_dir();
    EXPECT_NE(dir.find("/../libexec/domus/hotplug"), std::string::npos) << dir;
    ::setenv("DOMUS_HOTPLUG_DIR", "/srv/hotplug", 1);
    EXPECT_EQ(default_hotplug_dir(), "/srv/hotplug");
    ::unsetenv("DOMUS_HOTPLUG_DIR");
}

}  // namespace
}  // namespace domus::toolstack
