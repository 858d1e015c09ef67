// Tests of the vCPU availability nodes and the vcpu-set count check.
#include "toolstack/vcpu_availability.hpp"

#include <gtest/gtest.h>

namespace domus::toolstack {
namespace {

TEST(VcpuAvailabilityTest, NodesSitUnderTheDomainsHome) {
    EXPECT_EQ(availability_node(7, 0), "/local/domain/7/cpu/0/availability");
    EXPECT_EQ(availability_node(32751, 63), "/local/domain/32751/cpu/63/availability");
}

TEST(VcpuAvailabilityTest, TheFirstOnesAreOnline) {
    EXPECT_EQ(availability_value(0, 2), "online");
    EXPECT_EQ(availability_value(1, 2), "online");
    EXPECT_EQ(availability_value(2, 2), "offline");
    EXPECT_EQ(availability_value(63, 64), "online");
}

TEST(VcpuAvailabilityTest, CountsOutsideOneToMaxvcpusAreRefused) {
    EXPECT_EQ(check_online_count(1, 4).value(), 1u);
    EXPECT_EQ(check_online_count(4, 4).value(), 4u);
    auto zero = check_online_count(0, 4);
    ASSERT_FALSE(zero);
    EXPECT_NE(zero.error().message.find("vCPU 0"), std::string::npos);
    EXPECT_FALSE(check_online_count(-1, 4));
    auto over = check_online_count(5, 4);
    ASSERT_FALSE(over);
    EXPECT_NE(over.error().message.find("maxvcpus = 4"), std::string::npos);
}

}  // namespace
}  // namespace domus::toolstack
