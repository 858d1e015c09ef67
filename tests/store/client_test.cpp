// store::Client against the real tool socket server (in-process, its loop on a thread):
// a Batch's requests go in one send and each is answered and applied in order.
#include "store/client.hpp"

#include <gtest/gtest.h>
#include <sys/eventfd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <thread>

#include "store/tool_socket_server.hpp"

namespace domus::store {
namespace {

class ClientTest : public ::testing::Test {
protected:
    void SetUp() override {
        char pattern[] = "/tmp/domus-store-client-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir_ = pattern;
        auto loop = EventLoop::create();
        ASSERT_TRUE(loop);
        loop_.emplace(std::move(*loop));
        auto server = ToolSocketServer::listen(*loop_, store_, router_, dir_ + "/socket");
        ASSERT_TRUE(server) << server.error().message;
        server_ = std::move(*server);
        auto token = loop_->add(stop_.get(), EPOLLIN, [this](std::uint32_t) { loop_->stop(); });
        ASSERT_TRUE(token);
        thread_ = std::thread([this] { (void)loop_->run(); });
    }
    void TearDown() override {
        if (thread_.joinable()) {
            std::uint64_t one = 1;
            [[maybe_unused]] auto n = ::write(stop_.get(), &one, sizeof(one));
            thread_.join();
        }
        server_.reset();
        std::filesystem::remove_all(dir_);
    }
    Client connect() { return Client::connect(dir_ + "/socket").value(); }

    std::string dir_;
    Store store_;
    EventRouter router_{store_};
    std::optional<EventLoop> loop_;
    std::unique_ptr<ToolSocketServer> server_;
    Fd stop_{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
    std::thread thread_;
};

TEST_F(ClientTest, ABatchAppliesEveryRequestInOrder) {
    Client client = connect();
    Batch batch;
    batch.mkdir("/d");
    batch.write("/d/a", "1");
    batch.write("/d/a", "2");  // after the first: the last value stays
    batch.set_perms("/d/a", {"n0", "r5"});
    batch.remove("/d/gone");  // missing: not an error
    batch.write("/d/b", "x");
    ASSERT_TRUE(client.send(batch));
    EXPECT_EQ(client.read("/d/a").value(), "2");
    EXPECT_EQ(client.read("/d/b").value(), "x");
    // The connection goes on with ordinary requests (every reply was taken).
    ASSERT_TRUE(client.write("/d/c", "y"));
    EXPECT_EQ(client.read("/d/c").value(), "y");
}

TEST_F(ClientTest, ABatchReportsTheFirstFailureAndAppliesTheRest) {
    Client client = connect();
    Batch batch;
    batch.write("/e/a", "1");
    batch.set_perms("/e/missing", {"n0"});  // fails: no such node
    batch.set_perms("/nope", {"n0"});       // fails too, reported is the first
    batch.write("/e/b", "2");
    auto sent = client.send(batch);
    ASSERT_FALSE(sent);
    EXPECT_EQ(sent.error().message, "ENOENT");
    EXPECT_EQ(client.read("/e/b").value(), "2");
}

TEST_F(ClientTest, WatchEventsDuringABatchAreKeptForNextEvent) {
    Client client = connect();
    ASSERT_TRUE(client.watch("/w", "tok"));
    auto first = client.next_event(true);  // a new watch fires once at once
    ASSERT_TRUE(first && *first);
    Batch batch;
    batch.write("/w/x", "1");
    batch.write("/w/y", "2");
    ASSERT_TRUE(client.send(batch));
    auto event = client.next_event(true);
    ASSERT_TRUE(event && *event);
    EXPECT_EQ((*event)->path, "/w/x");
    EXPECT_EQ((*event)->token, "tok");
}

TEST_F(ClientTest, AnEmptyBatchSendsNothing) {
    Client client = connect();
    EXPECT_TRUE(client.send(Batch{}));
    ASSERT_TRUE(client.write("/f", "1"));
    EXPECT_EQ(client.read("/f").value(), "1");
}

}  // namespace
}  // namespace domus::store
