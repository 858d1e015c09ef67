// ToolSocketServer in-process, its loop on a thread: clients served over a real socket,
// and a client whose handling throws loses only its own connection.
#include "store/tool_socket_server.hpp"

#include <gtest/gtest.h>
#include <sys/eventfd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <thread>

#include "allocation_fault.hpp"
#include "base/unix_socket.hpp"
#include "client.hpp"

namespace domus::store {
namespace {

// Reads or writes one eventfd count (blocking read: waits for the other thread).
std::uint64_t take(int fd) {
    std::uint64_t count = 0;
    return ::read(fd, &count, sizeof(count)) == sizeof(count) ? count : 0;
}
void post(int fd) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd, &one, sizeof(one));
}

using testing::strings;
using testing::z;

// The next message on a tool connection (a reply or a watch event) as
// "<type>:<payload>", or "closed" when the server dropped the connection.
std::string next_message(const Fd& socket) {
    xsd_sockmsg header;
    if (!receive_all(socket.get(), &header, sizeof(header))) return "closed";
    std::string body(header.len, '\0');
    if (!receive_all(socket.get(), body.data(), body.size())) return "closed";
    return fmt::format("{}:{}", header.type, body);
}

// One request on a tool connection, and next_message().
std::string call(const Fd& socket, std::uint32_t type, const std::string& payload) {
    if (!send_all(socket.get(), encode(Message{type, 1, 0, payload}))) return "closed";
    return next_message(socket);
}

class ToolSocketServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        char pattern[] = "/tmp/domus-tool-socket-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir_ = pattern;
        auto loop = EventLoop::create();
        ASSERT_TRUE(loop);
        loop_.emplace(std::move(*loop));
        auto server = ToolSocketServer::listen(*loop_, store_, router_, socket_path());
        ASSERT_TRUE(server) << server.error().message;
        server_ = std::move(*server);
        // `call_` runs `task_` on the loop's thread and acks on `done_`.
        auto token = loop_->add(call_.get(), EPOLLIN, [this](std::uint32_t) {
            take(call_.get());
            task_();
            post(done_.get());
        });
        ASSERT_TRUE(token);
        thread_ = std::thread([this] { (void)loop_->run(); });
    }
    void TearDown() override {
        if (thread_.joinable()) {
            on_loop([this] { loop_->stop(); });
            thread_.join();
        }
        server_.reset();
        std::filesystem::remove_all(dir_);
    }
    std::string socket_path() const { return dir_ + "/socket"; }
    // Runs `task` on the loop's thread, between two events, and waits for it.
    void on_loop(std::function<void()> task) {
        task_ = std::move(task);
        post(call_.get());
        take(done_.get());
    }

    std::string dir_;
    Store store_;
    EventRouter router_{store_};
    std::optional<EventLoop> loop_;
    std::unique_ptr<ToolSocketServer> server_;
    Fd call_{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
    Fd done_{::eventfd(0, EFD_CLOEXEC)};
    std::function<void()> task_;
    std::thread thread_;
};

TEST_F(ToolSocketServerTest, ServesClientsAndRoutesWatchEvents) {
    Fd writer = connect_unix(socket_path()).value();
    Fd watcher = connect_unix(socket_path()).value();
    const std::string ok = fmt::format("{}:{}", XS_WATCH, z("OK"));
    ASSERT_EQ(call(watcher, XS_WATCH, strings({"/w", "tok"})), ok);
    EXPECT_EQ(next_message(watcher), fmt::format("{}:{}", XS_WATCH_EVENT, strings({"/w", "tok"})));
    EXPECT_EQ(call(writer, XS_WRITE, z("/w/k") + "v"), fmt::format("{}:{}", XS_WRITE, z("OK")));
    EXPECT_EQ(next_message(watcher),
              fmt::format("{}:{}", XS_WATCH_EVENT, strings({"/w/k", "tok"})));
}

TEST_F(ToolSocketServerTest, AClientWhoseHandlingThrowsLosesOnlyItsConnection) {
    Fd victim = connect_unix(socket_path()).value();
    Fd bystander = connect_unix(socket_path()).value();
    const std::string written = fmt::format("{}:{}", XS_WRITE, z("OK"));
    ASSERT_EQ(call(bystander, XS_WRITE, z("/before") + "1"), written);
    // The next allocation on the loop's thread, reading the victim's first request,
    // throws something that is not std::bad_alloc.
    on_loop([] { testing::fail_allocation(); });
    std::string reply = call(victim, XS_WRITE, z("/victim") + "1");
    on_loop([] { testing::cancel_allocation_fault(); });
    EXPECT_EQ(reply, "closed");
    EXPECT_EQ(call(bystander, XS_WRITE, z("/after") + "2"), written);
    EXPECT_EQ(call(bystander, XS_READ, z("/after")), fmt::format("{}:2", XS_READ));
    Fd newcomer = connect_unix(socket_path()).value();
    EXPECT_EQ(call(newcomer, XS_READ, z("/before")), fmt::format("{}:1", XS_READ));
}

}  // namespace
}  // namespace domus::store
