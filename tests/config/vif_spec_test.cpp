// VIFSPEC parsing as xl-network-configuration(5) writes it, and every refusal naming the
// string and the key.
#include "config/vif_spec.hpp"

#include <gtest/gtest.h>

namespace domus::config {
namespace {

TEST(VifSpecTest, TheDefaultIsABridgedVifOnDomusbr0) {
    auto spec = parse_vif_spec("");
    ASSERT_TRUE(spec) << spec.error().message;
    EXPECT_FALSE(spec->mac);
    EXPECT_EQ(spec->bridge, "domusbr0");
    EXPECT_EQ(spec->script, VifScript::bridge);
    EXPECT_EQ(spec->mtu, 1500u);
}

TEST(VifSpecTest, EveryKeyAsXlWritesIt) {
    auto spec = parse_vif_spec(
        " mac=00:16:3E:0a:0b:0c , ip=10.0.0.2/24 10.0.1.2, script=/etc/xen/scripts/vif-route,"
        "gatewaydev=eth0,vifname=web0,mtu=9000,type=vif,devid=3,backend=0,rate=10Mb/s@20ms");
    ASSERT_TRUE(spec) << spec.error().message;
    EXPECT_EQ(format_mac(*spec->mac), "00:16:3e:0a:0b:0c");
    EXPECT_EQ(spec->ips, (std::vector<std::string>{"10.0.0.2/24", "10.0.1.2"}));
    EXPECT_EQ(spec->script, VifScript::route);
    EXPECT_EQ(spec->gatewaydev, "eth0");
    EXPECT_EQ(spec->vifname, "web0");
    EXPECT_EQ(spec->mtu, 9000u);
    EXPECT_EQ(*spec->devid, 3u);
    EXPECT_EQ(spec->rate, (VifRate{.bytes_per_interval = 25'000, .interval_us = 20'000}));
    // Written back and read again: the same interface.
    auto again = parse_vif_spec(to_vif_spec(*spec));
    ASSERT_TRUE(again) << to_vif_spec(*spec);
    EXPECT_EQ(*again, *spec);
}

TEST(VifSpecTest, BadValuesAreRefusedNamingTheKey) {
    struct Case {
        const char* text;
        const char* says;
    };
    for (const Case& c : {
             Case{"mac=01:16:3e:00:00:01", "mac: 01:16:3e:00:00:01 is a multicast address"},
             Case{"mac=00:00:00:00:00:00", "mac: 00:00:00:00:00:00 is the zero address"},
             Case{"mac=00:16:3e:0:0:1", "mac: \"00:16:3e:0:0:1\" is not six hex pairs"},
             Case{"mac=00-16-3e-00-00-01", "not six hex pairs"},
             Case{"ip=10.0.0.300", "ip: \"10.0.0.300\" is not A.B.C.D"},
             Case{"ip=10.0.0.1/33", "ip: \"10.0.0.1/33\""},
             Case{"ip=", "ip: empty"},
             Case{"script=vif-openvswitch", "script: \"vif-openvswitch\" is not vif-bridge"},
             Case{"script=vif-route", "ip: vif-route needs the guest's address"},
             Case{"script=vif-nat,ip=10.0.0.2,bridge=br0", "bridge: only vif-bridge"},
             Case{"vifname=a-name-that-is-too-long", "vifname: \"a-name-that-is-too-long\""},
             Case{"vifname=a/b", "vifname"},
             Case{"bridge=br 0", "bridge"},
             Case{"mtu=67", "mtu: \"67\" is not a number 68..65535"},
             Case{"mtu=1500x", "mtu"},
             Case{"type=ioemu", "no emulated network cards"},
             Case{"model=e1000", "model: applies to emulated network cards"},
             Case{"rate=10Mb", "rate: \"10Mb\": the rate's unit is not one of"},
             Case{"rate=10Mb/s@2s", "rate: \"10Mb/s@2s\": the interval is not 1us..1s"},
             Case{"rate=0Mb/s", "rate: \"0Mb/s\" is not RATE/s"},
             Case{"backend=dd", "driver domains"},
             Case{"devid=256", "devid"},
             Case{"colour=red", "unknown key \"colour\""},
             Case{"mac", "\"mac\" is not key=value"},
             Case{"mtu=1400,mtu=1500", "mtu: given twice"},
         }) {
        auto spec = parse_vif_spec(c.text);
        ASSERT_FALSE(spec) << c.text;
        EXPECT_NE(spec.error().message.find(c.says), std::string::npos)
            << c.text << " -> " << spec.error().message;
        EXPECT_NE(spec.error().message.find(std::string("vif \"") + c.text), std::string::npos)
            << spec.error().message;
    }
}

TEST(VifSpecTest, AnAbsoluteScriptPathIsRunUnlessItIsXensDirectory) {
    auto xen = parse_vif_spec("script=/etc/xen/scripts/vif-nat,ip=10.0.0.2");
    ASSERT_TRUE(xen) << xen.error().message;
    EXPECT_EQ(xen->script, VifScript::nat);
    EXPECT_EQ(xen->script_path, "");  // the bundled vif-nat
    auto own = parse_vif_spec("script=/etc/domus/vif-route,ip=10.0.0.2");
    ASSERT_TRUE(own) << own.error().message;
    EXPECT_EQ(own->script, VifScript::route);
    EXPECT_EQ(own->script_path, "/etc/domus/vif-route");
    auto other = parse_vif_spec("script=/usr/local/sbin/my-vif,bridge=br7");
    ASSERT_TRUE(other) << other.error().message;
    EXPECT_EQ(other->script, VifScript::bridge);  // checked as vif-bridge
    EXPECT_EQ(other->script_path, "/usr/local/sbin/my-vif");
    EXPECT_EQ(*parse_vif_spec(to_vif_spec(*other)), *other);
    auto relative = parse_vif_spec("script=scripts/my-vif");
    ASSERT_FALSE(relative);
    EXPECT_NE(relative.error().message.find("not an absolute path"), std::string::npos);
}

TEST(VifSpecTest, ARateIsWrittenBackInBytesAndMicroseconds) {
    auto spec = parse_vif_spec("rate=100MB/s");
    ASSERT_TRUE(spec) << spec.error().message;
    EXPECT_EQ(spec->rate, (VifRate{.bytes_per_interval = 5'000'000, .interval_us = 50'000}));
    EXPECT_NE(to_vif_spec(*spec).find("rate=100000000B/s@50000us"), std::string::npos);
    EXPECT_EQ(*parse_vif_spec(to_vif_spec(*spec)), *spec);
}

TEST(VifSpecTest, AListNumbersItsVifsAndKeepsThemApart) {
    auto specs = parse_vif_specs({"bridge=br0", "devid=5,bridge=br1", "bridge=br2"});
    ASSERT_TRUE(specs) << specs.error().message;
    EXPECT_EQ(*(*specs)[0].devid, 0u);
    EXPECT_EQ(*(*specs)[1].devid, 5u);
    EXPECT_EQ(*(*specs)[2].devid, 2u);

    auto clash = parse_vif_specs({"bridge=br0", "devid=0"});
    ASSERT_FALSE(clash);
    EXPECT_NE(clash.error().message.find("devid: 0 is used by another vif"), std::string::npos);
    auto mac = parse_vif_specs({"mac=00:16:3e:00:00:01", "mac=00:16:3e:00:00:01"});
    ASSERT_FALSE(mac);
    EXPECT_NE(mac.error().message.find("mac: 00:16:3e:00:00:01 is used"), std::string::npos);
    auto name = parse_vif_specs({"vifname=a", "vifname=a"});
    ASSERT_FALSE(name);
    EXPECT_NE(name.error().message.find("vifname: \"a\" is used"), std::string::npos);
}

}  // namespace
}  // namespace domus::config
