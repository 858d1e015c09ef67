// DiskFormat names: xl's spelling both ways, and nothing for formats Domus does not serve.
#include "config/disk_format.hpp"

#include <gtest/gtest.h>

namespace domus::config {
namespace {

TEST(DiskFormat, NamesRoundTrip) {
    for (DiskFormat format : {DiskFormat::raw, DiskFormat::qcow2})
        EXPECT_EQ(parse_disk_format(disk_format_name(format)), format);
    EXPECT_EQ(disk_format_name(DiskFormat::raw), "raw");
    EXPECT_EQ(disk_format_name(DiskFormat::qcow2), "qcow2");
}

TEST(DiskFormat, UnknownNamesAreRefused) {
    for (std::string_view name : {"", "vhd", "QCOW2", "raw ", "qcow"})
        EXPECT_FALSE(parse_disk_format(name)) << name;
}

}  // namespace
}  // namespace domus::config
