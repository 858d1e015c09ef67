// Device strings to a DomainConfig's device lists: what `domus run` and domus-vmm both build.
#include "config/device_specs.hpp"

#include <gtest/gtest.h>

namespace domus::config {
namespace {

TEST(DeviceSpecs, DisksCarryEverySetting) {
    DomainConfig config;
    auto added = add_devices(config,
                             {"/img/a.qcow2,qcow2,xvdb,ro,no-discard",
                              "format=raw, vdev=xvda, direct-io-safe, target=/img/b.img"},
                             {});
    ASSERT_TRUE(added) << added.error().message;
    ASSERT_EQ(config.disks.size(), 2u);
    const VbdConfig& a = config.disks[0];
    EXPECT_EQ(a.target, "/img/a.qcow2");
    EXPECT_EQ(a.format, DiskFormat::qcow2);
    EXPECT_EQ(a.vdev, "xvdb");
    EXPECT_EQ(a.virtual_device, 51728u);
    EXPECT_TRUE(a.read_only);
    EXPECT_FALSE(a.discard);
    EXPECT_FALSE(a.direct_io);
    const VbdConfig& b = config.disks[1];
    EXPECT_EQ(b.target, "/img/b.img");
    EXPECT_EQ(b.format, DiskFormat::raw);
    EXPECT_EQ(b.virtual_device, 51712u);
    EXPECT_FALSE(b.read_only);
    EXPECT_TRUE(b.discard);
    EXPECT_TRUE(b.direct_io);
}

TEST(DeviceSpecs, ChannelsAreNumberedAfterThePrimaryConsole) {
    DomainConfig config;
    ASSERT_TRUE(add_devices(config, {},
                            {"name=one,connection=socket,path=/run/1.sock",
                             "path=/run/2.sock,name=two,connection=socket"}));
    ASSERT_EQ(config.channels.size(), 2u);
    EXPECT_EQ(config.channels[0].name, "one");
    EXPECT_EQ(config.channels[0].socket_path, "/run/1.sock");
    EXPECT_EQ(config.channels[0].devid, 1u);
    EXPECT_EQ(config.channels[1].name, "two");
    EXPECT_EQ(config.channels[1].devid, 2u);
    // A second call numbers after the channels already listed.
    ASSERT_TRUE(add_devices(config, {}, {"name=three,connection=socket,path=/run/3.sock"}));
    EXPECT_EQ(config.channels.back().devid, 3u);
}

TEST(DeviceSpecs, AnErrorLeavesTheConfigUnchanged) {
    DomainConfig config;
    auto bad_disk = add_devices(config, {"/img/a,raw,xvda", "/x.img,vhd,xvdb"},
                                {"name=one,connection=socket,path=/run/1.sock"});
    ASSERT_FALSE(bad_disk);
    EXPECT_NE(bad_disk.error().message.find("vhd"), std::string::npos);
    auto bad_channel = add_devices(config, {"/img/a,raw,xvda"}, {"name=a,connection=pty"});
    ASSERT_FALSE(bad_channel);
    EXPECT_NE(bad_channel.error().message.find("pty is not supported"), std::string::npos);
    auto duplicate = add_devices(
        config, {},
        {"name=a,connection=socket,path=/run/1.sock", "name=a,connection=socket,path=/run/2.sock"});
    ASSERT_FALSE(duplicate);
    EXPECT_TRUE(config.disks.empty());
    EXPECT_TRUE(config.channels.empty());
}

}  // namespace
}  // namespace domus::config
