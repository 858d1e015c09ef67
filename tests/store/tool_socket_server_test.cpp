// ToolSocketServer in-process, its loop on a thread: clients served over a real socket,
// and a client whose handling throws loses only its own connection.
#include "store/tool_socket_server.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

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

// A store killed after journaling a client's request, before consuming it from the
// socket: the next store, handed the same socket, answers it from the journal and does
// not apply it again (a WATCH applied twice would answer EEXIST).
TEST(ToolSocketRestartTest, ARequestAppliedButNotConsumedIsAnsweredFromTheJournal) {
    std::string dir = ::testing::TempDir() + "tool-restart-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::string request;
    encode(Message{XS_WATCH, 9, 0, strings({"/w", "tok"})}, request);
    ConnectionId id = 0;
    {
        Store dead;
        auto journal = StateJournal::recover(dead, dir);
        ASSERT_TRUE(journal);
        Connection& c = dead.connect({0, true});
        id = c.id();
        std::string reply;
        encode(dead.handle(c, Message{XS_WATCH, 9, 0, strings({"/w", "tok"})}), reply);
        dead.set_last_reply(c, ReplyRecord{ToolSocketServer::batch_digest(request), reply});
        (*journal)->commit();
    }
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
    Fd client(pair[0]), served(pair[1]);
    ASSERT_TRUE(send_all(client.get(), request));  // still in the socket
    ASSERT_TRUE(send_all(client.get(), request));  // and a second, new one behind it

    Store store;
    auto journal = StateJournal::recover(store, dir);
    ASSERT_TRUE(journal);
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    EventRouter router(store);
    auto server = ToolSocketServer::listen(*loop, store, router, dir + "/socket",
                                           Durable{journal->get(), nullptr});
    ASSERT_TRUE(server);
    (*server)->adopt(std::move(served), id);
    Fd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    auto token = loop->add(stop.get(), EPOLLIN, [&](std::uint32_t) { loop->stop(); });
    ASSERT_TRUE(token);
    std::thread thread([&] { (void)loop->run(); });

    // Two replies: OK from the journal for the first, EEXIST for the second.
    std::string replies;
    while (replies.size() < 2 * sizeof(xsd_sockmsg) + 3 + 7) {
        pollfd p{client.get(), POLLIN, 0};
        if (::poll(&p, 1, 5000) != 1) break;
        char buffer[256];
        ssize_t n = ::recv(client.get(), buffer, sizeof(buffer), 0);
        if (n <= 0) break;
        replies.append(buffer, std::size_t(n));
    }
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop.get(), &one, sizeof(one));
    thread.join();
    ASSERT_GE(replies.size(), sizeof(xsd_sockmsg));
    xsd_sockmsg first;
    std::memcpy(&first, replies.data(), sizeof(first));
    EXPECT_EQ(first.type, XS_WATCH);
    EXPECT_EQ(first.req_id, 9u);
    std::size_t second_at = sizeof(first) + first.len;
    ASSERT_GE(replies.size(), second_at + sizeof(xsd_sockmsg));
    xsd_sockmsg second;
    std::memcpy(&second, replies.data() + second_at, sizeof(second));
    EXPECT_EQ(second.type, XS_ERROR);
    EXPECT_EQ(replies.substr(second_at + sizeof(second), second.len), z("EEXIST"));
    server->reset();
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace domus::store
