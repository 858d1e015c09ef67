// A hostile netif frontend (guest/apps/net_hostile.c) against netback: bad grants, bad
// sizes, a 19-slot packet, a bad GSO slot, bad RX grants, then a ring overrun. Each bad
// packet is refused alone; the overrun closes that vif alone. The domain's other vif,
// its monitor and another domain on the same bridge go on.
#include "network_fixture.hpp"

namespace domus::test {
namespace {

class NetHostileTest : public NetworkFixture {};

TEST_F(NetHostileTest, AHostileFrontendLosesOnlyItsOwnVif) {
    ip({"addr", "add", "10.77.0.1/24", "dev", "xenbr0"});
    ASSERT_EQ(
        domus({"create", guest_config("web", "httpd", "'bridge=xenbr0,ip=10.77.0.2/24'")}).status,
        0);
    ASSERT_TRUE(console_shows("web", "httpd: listening on 80")) << console("web");

    auto created =
        domus({"create", guest_config("hostile", "net_hostile",
                                      "'bridge=xenbr0', 'bridge=xenbr0,ip=10.77.0.9/24'")});
    ASSERT_EQ(created.status, 0) << created.err;
    ASSERT_TRUE(console_shows("hostile", "net_hostile: PASS") ||
                console("hostile").find("FAIL") != std::string::npos)
        << console("hostile");
    std::string out = console("hostile");
    EXPECT_NE(out.find("net_hostile: PASS"), std::string::npos) << out;
    EXPECT_EQ(out.find("FAIL"), std::string::npos) << out;

    // The attacked vif is closed, the monitor said why; the domain runs on.
    std::ifstream log(run_dir_ + "/domains/2/vmm.log");
    std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("vif2.0: frontend misbehaved"), std::string::npos) << text;
    auto listed = domus({"list"});
    EXPECT_NE(listed.out.find("hostile"), std::string::npos) << listed.out;
    // Its other vif answers; the other domain serves.
    auto pinged = ping({"-c", "3", "-i", "0.1", "-W", "2", "10.77.0.9"});
    EXPECT_NE(pinged.out.find("3 received"), std::string::npos) << pinged.out << pinged.err;
    auto page = curl({"-f", "http://10.77.0.2/"});
    EXPECT_EQ(page.status, 0) << page.err;
}

}  // namespace
}  // namespace domus::test
