// Networked guests across save/restore and live migration. Two hosts are two network
// namespaces, each with a domusd under its own run directory and a bridge xenbr0; a
// veth pair joins the bridges, as a switch joins two hosts. netfront reconnects to its
// new backend, the guest announces its address (gratuitous ARP, so the bridges learn
// where it went), and a TCP stream it serves survives a live migration.
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <memory>
#include <thread>

#include "network_fixture.hpp"
#include "second_host.hpp"

namespace domus::test {
namespace {

using namespace std::chrono_literals;

class NetMigrationTest : public NetworkFixture {
protected:
    void SetUp() override {
        NetworkFixture::SetUp();
        if (IsSkipped()) return;
        ip({"addr", "add", "10.77.0.1/24", "dev", "xenbr0"});
        second_ = std::make_unique<SecondHost>(run_dir_ + "-dst",
                                               "domus-host-b-" + std::to_string(::getpid()));
        const std::string& b = second_->netns();
        ip({"link", "add", "toB0", "type", "veth", "peer", "name", "toB1"});
        ip({"link", "set", "toB0", "master", "xenbr0", "up"});
        ip({"link", "set", "toB1", "netns", b});
        ip({"-n", b, "link", "set", "lo", "up"});
        ip({"-n", b, "link", "add", "xenbr0", "type", "bridge"});
        ip({"-n", b, "link", "set", "xenbr0", "up"});
        ip({"-n", b, "link", "set", "toB1", "master", "xenbr0", "up"});
        ASSERT_EQ(domus({"create",
                         guest_config("web", "httpd", "'bridge=xenbr0,ip=10.77.0.2/24'", "", 128)})
                      .status,
                  0);
        ASSERT_TRUE(console_shows("web", "httpd: listening on 80")) << console("web");
    }
    void TearDown() override {
        second_.reset();
        NetworkFixture::TearDown();
    }

    // 60 MB of the test body from 10.77.0.2 at 20 MB/s, fetched while `move` runs (the
    // transfer is in the middle when the domain moves): how many of its bytes are wrong,
    // or SIZE_MAX when it did not all come.
    std::size_t stream_across(const std::function<void()>& move) {
        std::string body = run_dir_ + "/body";
        ProcessResult fetched;
        std::thread fetch([&] {
            fetched = curl(
                {"-f", "--limit-rate", "20M", "-o", body, "http://10.77.0.2/bytes/60000000"}, 120s);
        });
        std::this_thread::sleep_for(1s);
        move();
        fetch.join();
        EXPECT_EQ(fetched.status, 0) << fetched.err;
        std::ifstream in(body, std::ios::binary);
        std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (data.size() != 60000000u) return SIZE_MAX;
        std::size_t wrong = 0;
        for (std::size_t i = 0; i < data.size(); ++i)
            wrong += data[i] != char('a' + i % 26);
        return wrong;
    }

    std::unique_ptr<SecondHost> second_;
};

TEST_F(NetMigrationTest, SaveAndRestoreKeepTheGuestServing) {
    std::string file = run_dir_ + "/web.save";
    auto saved = domus({"save", "web", file});
    ASSERT_EQ(saved.status, 0) << saved.err;
    auto restored = domus({"restore", file});
    ASSERT_EQ(restored.status, 0) << restored.err;
    ASSERT_TRUE(console_shows("web", "net: en0 announced after resume")) << console("web");
    EXPECT_NE(console("web").find("netfront: vif 0 reconnected"), std::string::npos);
    auto page = curl({"-f", "--retry", "5", "--retry-connrefused", "http://10.77.0.2/"});
    EXPECT_EQ(page.status, 0) << page.err << console("web");
    EXPECT_NE(page.out.find("Served by a Domus domain"), std::string::npos);
}

TEST_F(NetMigrationTest, ATcpStreamSurvivesALiveMigration) {
    ProcessResult moved;
    auto move = [&] { moved = domus({"migrate", "-s", "", "web", second_->transport()}); };
    EXPECT_EQ(stream_across(move), 0u) << "the TCP stream intact";
    ASSERT_EQ(moved.status, 0) << moved.out << moved.err;
    // It runs there now (its TAP on host B's bridge), announced itself, and serves.
    auto console_there = second_->domus({"console", "web"}, 500ms).out;
    EXPECT_NE(console_there.find("net: en0 announced after resume"), std::string::npos)
        << console_there;
    EXPECT_EQ(domus({"list"}).out.find("web"), std::string::npos);
    EXPECT_EQ(second_->run({"/usr/sbin/ip", "link", "show", "vif1.0"}).status, 0);
    auto page = curl({"-f", "http://10.77.0.2/status"});
    EXPECT_EQ(page.status, 0) << page.err;
}

// Issue 10's three loads at once: the guest dirties 50 MiB/s of memory, writes and
// verifies its PV disk, and streams 60 MB to an outside client while it moves live.
TEST_F(NetMigrationTest, MemoryDiskAndTcpLoadsAllSurviveOneLiveMigration) {
    ASSERT_EQ(domus({"destroy", "web"}).status, 0);  // its address goes to the counter
    auto made = domus({"image", "create", run_dir_ + "/disk.raw", "4M", "-f", "raw"});
    ASSERT_EQ(made.status, 0) << made.err;
    ASSERT_EQ(domus({"create",
                     config("sc", "name = \"sc\"\nkernel = \"" + guest_image("save_counter_net") +
                                      "\"\nmemory = 128\ndisk = [ '" + run_dir_ +
                                      "/disk.raw,raw,xvda,w' ]\n"
                                      "vif = [ 'bridge=xenbr0,ip=10.77.0.2/24' ]\n"
                                      "extra = \"dirty_mb=50\"\n")})
                  .status,
              0);
    ASSERT_TRUE(console_shows("sc", "save_counter: serving on 80")) << console("sc");
    // data/counter/status of `sc` on the host whose run directory is `dir`.
    auto status = [&](const std::string& dir) -> std::string {
        auto id = run_process(
            {"/usr/bin/env", "DOMUS_RUN_DIR=" + dir, domus_binary(), "domid", "sc"}, 10s);
        if (id.status != 0) return "";
        auto r = run_process(
            {"/usr/bin/env", "XENSTORED_PATH=" + dir + "/xenstored/socket",
             "/usr/bin/xenstore-read",
             "/local/domain/" + id.out.substr(0, id.out.find('\n')) + "/data/counter/status"},
            10s);
        return r.status == 0 ? r.out : "";
    };
    auto figure = [](const std::string& text, const std::string& key) -> long long {
        auto at = text.find(key + "=");
        return at == std::string::npos ? -1 : std::stoll(text.substr(at + key.size() + 1));
    };
    std::string before;
    eventually([&] { return figure(before = status(run_dir_), "verified") > 3; }, 30s);
    ASSERT_GT(figure(before, "verified"), 3) << before;

    ProcessResult moved;
    auto move = [&] { moved = domus({"migrate", "-s", "", "sc", second_->transport()}); };
    std::size_t wrong = stream_across(move);
    ASSERT_EQ(moved.status, 0) << moved.out << moved.err;
    EXPECT_EQ(wrong, 0u) << "the TCP stream intact";

    std::string after;
    eventually(
        [&] {
            after = status(second_->dir());
            return figure(after, "verified") > figure(before, "verified") + 20;
        },
        30s);
    EXPECT_GT(figure(after, "count"), figure(before, "count")) << after;
    EXPECT_EQ(figure(after, "errors"), 0) << "memory and disk intact: " << after;
    EXPECT_EQ(figure(after, "backwards"), 0) << after;
}

}  // namespace
}  // namespace domus::test
