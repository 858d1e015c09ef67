// unix_socket: listen (owner-only, replacing a stale file), connect, and whole-buffer
// send/receive, including the peer closing mid-message.
#include "base/unix_socket.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

namespace domus {
namespace {

class UnixSocketTest : public ::testing::Test {
protected:
    void SetUp() override {
        char pattern[] = "/tmp/domus-unix-socket-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // A connected pair: (client, accepted server side).
    std::pair<Fd, Fd> connected(const std::string& path) {
        auto listener = listen_unix(path, SOCK_STREAM);
        EXPECT_TRUE(listener) << listener.error().message;
        auto client = connect_unix(path);
        EXPECT_TRUE(client) << client.error().message;
        Fd server(::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC));
        return {std::move(*client), std::move(server)};
    }

    std::string dir_;
};

TEST_F(UnixSocketTest, ListenReplacesAStaleFileAndIsOwnerOnly) {
    std::string path = dir_ + "/socket";
    std::ofstream(path) << "stale";
    auto listener = listen_unix(path, SOCK_SEQPACKET);
    ASSERT_TRUE(listener) << listener.error().message;
    struct stat info;
    ASSERT_EQ(::stat(path.c_str(), &info), 0);
    EXPECT_TRUE(S_ISSOCK(info.st_mode));
    EXPECT_EQ(info.st_mode & 0777, 0600u);
    EXPECT_TRUE(connect_unix(path, SOCK_SEQPACKET));
}

TEST_F(UnixSocketTest, SendAllAndReceiveAllCarryABufferWhole) {
    auto [client, server] = connected(dir_ + "/s");
    std::string message(300000, 'x');  // more than one socket buffer
    message.back() = 'y';
    std::string received(message.size(), '\0');
    std::thread reader([&, fd = server.get()] {  // clang 14 cannot capture a binding
        ASSERT_TRUE(receive_all(fd, received.data(), received.size()));
    });
    EXPECT_TRUE(send_all(client.get(), message));
    reader.join();
    EXPECT_EQ(received, message);
}

TEST_F(UnixSocketTest, PeerClosingIsAnErrorNotAShortRead) {
    auto [client, server] = connected(dir_ + "/s");
    ASSERT_TRUE(send_all(client.get(), "abc"));
    client.reset();
    char bytes[8];
    auto result = receive_all(server.get(), bytes, sizeof(bytes));
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().message.find("closed"), std::string::npos) << result.error().message;
    EXPECT_FALSE(send_all(server.get(), "x"));  // EPIPE, not SIGPIPE
}

TEST_F(UnixSocketTest, RefusesAPathTooLongForSockaddr) {
    std::string path = dir_ + "/" + std::string(200, 'p');
    EXPECT_FALSE(listen_unix(path, SOCK_STREAM));
    EXPECT_FALSE(connect_unix(path));
}

TEST_F(UnixSocketTest, ConnectToNothingFailsWithTheReason) {
    auto fd = connect_unix(dir_ + "/absent");
    ASSERT_FALSE(fd);
    EXPECT_EQ(fd.error().code, ENOENT);
}

TEST_F(UnixSocketTest, SendWithFdsPassesTheBytesAndTheDescriptors) {
    auto [client, server] = connected(dir_ + "/s");
    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    Fd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
    int fds[] = {read_end.get(), write_end.get()};
    auto sent = send_with_fds(client.get(), "hello", fds);
    ASSERT_TRUE(sent) << sent.error().message;
    EXPECT_EQ(*sent, 5u);

    char data[8] = {};
    iovec io{data, sizeof data};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)];
    msghdr message{};
    message.msg_iov = &io;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ASSERT_EQ(::recvmsg(server.get(), &message, MSG_CMSG_CLOEXEC), 5);
    EXPECT_EQ(std::string(data, 5), "hello");
    std::vector<Fd> passed;
    take_passed_fds(message, passed);
    ASSERT_EQ(passed.size(), 2u);
    // The passed write end reaches the original read end.
    ASSERT_EQ(::write(passed[1].get(), "x", 1), 1);
    char got = 0;
    EXPECT_EQ(::read(read_end.get(), &got, 1), 1);
    EXPECT_EQ(got, 'x');

    std::vector<int> too_many(kMaxPassedFds + 1, read_end.get());
    EXPECT_FALSE(send_with_fds(client.get(), "x", too_many));
}

}  // namespace
}  // namespace domus
