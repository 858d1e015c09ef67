// PV channels end to end: a guest's console frontend (consfront) opens a named channel,
// the monitor's ChannelDevice serves its ring over XenBus and glues it to a UNIX socket;
// the test (and Debian's socat) talk to the guest through that socket.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <future>
#include <utility>

#include <gtest/gtest.h>

#include "channel_client.hpp"
#include "toolstack_fixture.hpp"

namespace domus::test {
namespace {

class ChannelTest : public ToolstackTest {
protected:
    void SetUp() override {
        ToolstackTest::SetUp();
        if (IsSkipped()) return;
        ASSERT_EQ(domus({"info"}).status, 0);  // starts domusd and the store
    }

    std::future<ProcessResult> start(const std::string& app, const std::string& channel,
                                     const std::string& cmdline, int domid) {
        std::vector<std::string> args = {"--store-run-dir",     run_dir_,    "--domid",
                                         std::to_string(domid), "--channel", channel,
                                         "--cmdline",           cmdline};
        return std::async(std::launch::async, [app, args] {
            return run(guest_image(app), args, std::chrono::seconds(60));
        });
    }

    std::unique_ptr<ChannelClient> connect(const std::string& path) {
        std::unique_ptr<ChannelClient> client;
        eventually([&] {
            client = std::make_unique<ChannelClient>(path);
            return client->connected();
        });
        return client;
    }

    std::string read(const std::string& path) {
        auto r = xenstore("xenstore-read", {path});
        return r.status == 0 ? r.out.substr(0, r.out.find_last_not_of('\n') + 1) : "<absent>";
    }
    bool exists(const std::string& path) { return xenstore("xenstore-exists", {path}).status == 0; }
};

TEST_F(ChannelTest, EchoesThroughTheSocketAcrossReconnectsWithXensPaths) {
    std::string sock = run_dir_ + "/echo.sock";
    auto domain = start("channel_echo", "name=org.domus.echo,connection=socket,path=" + sock,
                        "name=org.domus.echo loops=3", 78);
    auto client = connect(sock);
    ASSERT_TRUE(client->connected());
    EXPECT_NE(client->read_until("channel_echo ready\n").find("channel_echo ready\n"),
              std::string::npos);

    // The layout libxl gives a channel, seen with Xen's own tools.
    const std::string fe = "/local/domain/78/device/console/1";
    const std::string be = "/local/domain/0/backend/console/78/1";
    EXPECT_TRUE(eventually([&] { return read(fe + "/state") == "4"; })) << read(fe + "/state");
    const std::pair<std::string, std::string> keys[] = {
        {be + "/state", "4"},
        {fe + "/name", "org.domus.echo"},
        {fe + "/backend", be},
        {fe + "/backend-id", "0"},
        {fe + "/limit", "1048576"},
        {fe + "/type", "ioemu"},
        {be + "/frontend", fe},
        {be + "/frontend-id", "78"},
        {be + "/online", "1"},
        {be + "/protocol", "vt100"},
        {be + "/name", "org.domus.echo"},
        {be + "/connection", "socket"},
        {be + "/path", sock},
    };
    for (const auto& [key, value] : keys)
        EXPECT_EQ(read(key), value) << key;
    EXPECT_NE(read(fe + "/ring-ref"), "<absent>");
    EXPECT_NE(read(fe + "/port"), "<absent>");
    auto listing = xenstore("xenstore-ls", {"-f", fe});
    EXPECT_NE(listing.out.find(fe + "/ring-ref"), std::string::npos) << listing.out;

    ASSERT_TRUE(client->send("hello, guest\n"));
    EXPECT_NE(client->read_until("HELLO, GUEST\n").find("HELLO, GUEST\n"), std::string::npos);
    // A client that goes away and comes back finds the channel where it left it.
    client->close();
    client = connect(sock);
    ASSERT_TRUE(client->send("second"));
    ASSERT_TRUE(client->send(" line\n"));
    EXPECT_NE(client->read_until("SECOND LINE\n").find("SECOND LINE\n"), std::string::npos);
    client->close();
    client = connect(sock);
    ASSERT_TRUE(client->send("third\n"));
    EXPECT_NE(client->read_until("THIRD\n").find("THIRD\n"), std::string::npos);
    // The guest is done after three lines: the connected client sees the end.
    EXPECT_TRUE(client->sees_end());

    auto r = domain.get();
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("channel_echo: PASS 3 lines"), std::string::npos) << r.out;
    EXPECT_FALSE(std::filesystem::exists(sock));
    EXPECT_FALSE(exists(fe));
    EXPECT_FALSE(exists(be));
}

TEST_F(ChannelTest, AGuestThatNeverOpensItsChannelEndsNormally) {
    std::string sock = run_dir_ + "/unused.sock";
    auto domain =
        start("hello", "name=org.domus.unused,connection=socket,path=" + sock, "sleep_ms=1500", 79);
    auto client = connect(sock);
    ASSERT_TRUE(client->connected());
    ASSERT_TRUE(client->send("nobody reads this\n"));  // buffered, harmless
    // The socket listens before the device is published: the backend reaches InitWait
    // soon after; the frontend stays Initialising, since nobody opens the channel.
    EXPECT_TRUE(
        eventually([&] { return read("/local/domain/0/backend/console/79/1/state") == "2"; }));
    EXPECT_EQ(read("/local/domain/79/device/console/1/state"), "1");
    EXPECT_TRUE(client->sees_end(std::chrono::seconds(30)));
    auto r = domain.get();
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_LT(r.elapsed.count(), 20'000);
    EXPECT_FALSE(std::filesystem::exists(sock));
    EXPECT_FALSE(exists("/local/domain/79/device/console/1"));
    EXPECT_FALSE(exists("/local/domain/0/backend/console/79/1"));
}

TEST_F(ChannelTest, SocatTalksToTheChannelOfADomainFromItsXlConfig) {
    if (access("/usr/bin/socat", X_OK) != 0) {
        std::printf("skipped: socat not installed\n");
        GTEST_SKIP() << "skipped: socat not installed";
    }
    std::string sock = run_dir_ + "/cfg.sock";
    std::string cfg =
        config("withchannel", "name = \"withchannel\"\nkernel = \"" + guest_image("channel_echo") +
                                  "\"\nmemory = 16\ncmdline = \"name=org.domus.echo loops=2\"\n"
                                  "channel = [ 'name=org.domus.echo, connection=socket, path=" +
                                  sock + "' ]\n");
    auto created = domus({"create", cfg});
    ASSERT_EQ(created.status, 0) << created.err;
    ASSERT_TRUE(eventually([&] { return std::filesystem::exists(sock); }));
    // socat sends its stdin, half-closes, and prints what comes back until the channel
    // closes (the guest powers off after two lines and domusd destroys the domain).
    auto r = run_process({"/usr/bin/socat", "-t", "30", "-", "UNIX-CONNECT:" + sock},
                         std::chrono::seconds(40), "one\ntwo\n");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "channel_echo ready\nONE\nTWO\n");
    EXPECT_TRUE(eventually([&] { return !std::filesystem::exists(sock); }));
}

TEST_F(ChannelTest, BadChannelSpecsAreRejected) {
    auto r = run(guest_image("hello"),
                 {"--store-run-dir", run_dir_, "--channel", "name=a,connection=pty"});
    EXPECT_EQ(r.status, kMonitorError);
    EXPECT_NE(r.err.find("connection: pty is not supported"), std::string::npos) << r.err;
    r = run(guest_image("hello"),
            {"--store-run-dir", run_dir_, "--channel", "name=a,connection=socket"});
    EXPECT_EQ(r.status, kMonitorError);
    EXPECT_NE(r.err.find("path: missing"), std::string::npos) << r.err;
    r = run(guest_image("hello"),
            {"--channel", "name=a,connection=socket,path=" + run_dir_ + "/a"});
    EXPECT_EQ(r.status, kMonitorError);
    EXPECT_NE(r.err.find("store run directory"), std::string::npos) << r.err;
    std::string file = run_dir_ + "/not-a-socket";
    std::ofstream(file) << "keep me";
    r = run(guest_image("hello"),
            {"--store-run-dir", run_dir_, "--channel", "name=a,connection=socket,path=" + file});
    EXPECT_EQ(r.status, kMonitorError);
    EXPECT_NE(r.err.find("not a socket"), std::string::npos) << r.err;
    EXPECT_TRUE(std::filesystem::exists(file));
    std::string cfg =
        config("badchannel", "name = \"badchannel\"\nkernel = \"" + guest_image("hello") +
                                 "\"\nchannel = [ 'name=x, connection=pty' ]\n");
    auto created = domus({"create", cfg});
    EXPECT_NE(created.status, 0);
    EXPECT_NE(created.err.find("channel"), std::string::npos) << created.err;
    EXPECT_NE(created.err.find("pty is not supported"), std::string::npos) << created.err;
}

}  // namespace
}  // namespace domus::test
