// Boots the grant_test guest: the kernel's grant table against the monitor's checks
// (registration, query_size, self-copies through grants, revocation).
#include <gtest/gtest.h>

#include "domus_fixture.hpp"

namespace domus::test {
namespace {

using GrantTest = DomainTest;

TEST_F(GrantTest, GuestGrantsCopiesAndRevokes) {
    auto r = run(guest_image("grant_test"));
    ASSERT_FALSE(r.timed_out) << r.out << r.err;
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("grant_test: PASS"), std::string::npos) << r.out << r.err;
}

}  // namespace
}  // namespace domus::test
