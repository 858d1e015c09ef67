// A fake domain attached through the domain socket (memfd ring + eventfds, as a
// monitor would pass them): the guest's requests over the ring, seen by dom0's
// xenstore-utils, and the handshake's refusals.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "../store/ring_fixture.hpp"
#include "store/domain_attach.hpp"
#include "xenstore_tools.hpp"
#include "xenstore_watch.hpp"

namespace domus::test {
namespace {

using namespace std::chrono_literals;
using store::DomainAttach;
using store::DomainAttachReply;
using store::Message;
using store::testing::FakeGuest;

// Sends `request` with `fds` (SCM_RIGHTS) and returns the reply status (1 = no reply).
int send_attach(int socket, const DomainAttach& request, const std::vector<int>& fds) {
    iovec iov{const_cast<DomainAttach*>(&request), sizeof(request)};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    std::vector<char> control(CMSG_SPACE(sizeof(int) * std::max<std::size_t>(fds.size(), 1)));
    if (!fds.empty()) {
        message.msg_control = control.data();
        message.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* c = CMSG_FIRSTHDR(&message);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    if (::sendmsg(socket, &message, MSG_NOSIGNAL) != ssize_t(sizeof(request))) return 1;
    DomainAttachReply reply{1};
    pollfd p{socket, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1 || ::recv(socket, &reply, sizeof(reply), 0) != sizeof(reply))
        return 1;
    return reply.status;
}

DomainAttach attach_request(std::uint32_t domid) {
    DomainAttach request;
    request.domid = domid;
    request.port = 3;
    request.ring_offset = FakeGuest::kRingOffset;
    request.ring_gfn = FakeGuest::kRingOffset / 4096;
    return request;
}

class DomainAttachTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_TRUE(daemon_.running()) << daemon_.log(); }

    Fd monitor() { return connect_unix(daemon_.domain_socket(), SOCK_SEQPACKET); }
    int attach(int socket, std::uint32_t domid) {
        return send_attach(socket, attach_request(domid),
                           {guest_.memfd(), guest_.guest_notify_fd(), guest_.store_notify_fd()});
    }
    // The guest sends `bytes`, kicks, and collects `count` messages from `rsp`.
    std::vector<Message> guest_exchange(const std::string& bytes, std::size_t count) {
        EXPECT_EQ(guest_.produce(bytes), bytes.size());
        guest_.kick();
        std::vector<Message> out;
        store::Decoder decoder;
        auto deadline = std::chrono::steady_clock::now() + 5s;
        while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
            pollfd p{guest_.store_notify_fd(), POLLIN, 0};
            ::poll(&p, 1, 100);
            guest_.store_kicks();
            decoder.feed(guest_.consume());
            guest_.kick();  // we consumed: the store may continue
            for (auto next = decoder.next(); next.status == store::Decoder::Status::Message;
                 next = decoder.next())
                out.push_back(next.message);
        }
        return out;
    }

    XenstoredProcess daemon_{DOMUS_XENSTORED_BIN};
    FakeGuest guest_;
};

std::string request(std::uint32_t type, std::string payload, std::uint32_t req_id) {
    return store::encode(Message{type, req_id, 0, std::move(payload)});
}

TEST_F(DomainAttachTest, GuestWritesOverTheRingAndDom0SeesIt) {
    DOMUS_REQUIRE_XENSTORE_UTILS();
    XenstoreTools tools(daemon_);
    // What the toolstack does first: the guest's home, readable by it; a folder it owns.
    ASSERT_EQ(tools.run("write", {"/local/domain/7/data", ""}).status, 0);
    ASSERT_EQ(tools.run("chmod", {"/local/domain/7", "n0", "r7"}).status, 0);
    ASSERT_EQ(tools.run("chmod", {"/local/domain/7/data", "n7"}).status, 0);
    XenstoreWatch introduced(daemon_, {"-n", "2", "@introduceDomain"});
    ASSERT_EQ(introduced.next_line(), "@introduceDomain");  // the watch is registered

    Fd socket = monitor();
    ASSERT_TRUE(socket);
    ASSERT_EQ(attach(socket.get(), 7), 0) << daemon_.log();
    EXPECT_EQ(guest_.ring()->server_features, unsigned(XENSTORE_SERVER_FEATURE_ERROR));
    EXPECT_EQ(introduced.next_line(), "@introduceDomain");
    EXPECT_EQ(introduced.exit_status(), 0);

    auto replies = guest_exchange(request(XS_WRITE, std::string("data/greeting\0hi", 16), 1) +
                                      request(XS_READ, std::string("data/greeting\0", 14), 2),
                                  2);
    ASSERT_EQ(replies.size(), 2u) << daemon_.log();
    EXPECT_EQ(replies[0], (Message{XS_WRITE, 1, 0, std::string("OK\0", 3)}));
    EXPECT_EQ(replies[1], (Message{XS_READ, 2, 0, "hi"}));
    auto ls = tools.run("ls", {"/local/domain/7"});
    EXPECT_EQ(ls.out, "data = \"\"\n greeting = \"hi\"\n") << ls.err;
    // The guest may not write outside what it owns.
    replies = guest_exchange(request(XS_WRITE, std::string("/evil\0x", 7), 3), 1);
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].payload, std::string("EACCES\0", 7));

    Fd dom0 = connect_unix(daemon_.tool_socket(), SOCK_STREAM);
    EXPECT_EQ(xs_call(dom0.get(), XS_IS_DOMAIN_INTRODUCED, std::string("7\0", 2)),
              std::string("T\0", 2));

    // The monitor goes away: the domain is released.
    XenstoreWatch released(daemon_, {"-n", "2", "@releaseDomain"});
    ASSERT_EQ(released.next_line(), "@releaseDomain");
    socket.reset();
    EXPECT_EQ(released.next_line(), "@releaseDomain");
    EXPECT_EQ(released.exit_status(), 0);
    EXPECT_EQ(xs_call(dom0.get(), XS_IS_DOMAIN_INTRODUCED, std::string("7\0", 2)),
              std::string("F\0", 2));
}

TEST_F(DomainAttachTest, WatchEventsReachTheGuestRing) {
    Fd dom0 = connect_unix(daemon_.tool_socket(), SOCK_STREAM);
    ASSERT_EQ(xs_call(dom0.get(), XS_WRITE, std::string("/shared\0", 8)), std::string("OK\0", 3));
    ASSERT_EQ(xs_call(dom0.get(), XS_SET_PERMS, std::string("/shared\0r0\0", 11)),
              std::string("OK\0", 3));
    Fd socket = monitor();
    ASSERT_EQ(attach(socket.get(), 9), 0);
    auto replies = guest_exchange(request(XS_WATCH, std::string("/shared\0tok\0", 12), 1), 2);
    ASSERT_EQ(replies.size(), 2u);
    ASSERT_EQ(xs_call(dom0.get(), XS_WRITE, std::string("/shared\0new", 11)),
              std::string("OK\0", 3));
    auto events = guest_exchange("", 1);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0], (Message{XS_WATCH_EVENT, 0, 0, std::string("/shared\0tok\0", 12)}));
}

TEST_F(DomainAttachTest, RefusesBadHandshakes) {
    int fds[3] = {guest_.memfd(), guest_.guest_notify_fd(), guest_.store_notify_fd()};
    auto refused = [&](DomainAttach request, std::vector<int> passed) {
        Fd socket = monitor();
        return send_attach(socket.get(), request, passed);
    };
    std::vector<int> three(fds, fds + 3);
    auto bad_magic = attach_request(4);
    bad_magic.magic = 0;
    EXPECT_EQ(refused(bad_magic, three), -EINVAL);
    auto bad_version = attach_request(4);
    bad_version.version = 2;
    EXPECT_EQ(refused(bad_version, three), -EPROTONOSUPPORT);
    EXPECT_EQ(refused(attach_request(0), three), -EINVAL);
    EXPECT_EQ(refused(attach_request(DOMID_FIRST_RESERVED), three), -EINVAL);
    EXPECT_EQ(refused(attach_request(4), {fds[0], fds[1]}), -EBADF);
    EXPECT_EQ(refused(attach_request(4), {fds[0], fds[1], fds[2], fds[2]}), -EBADF);
    auto unaligned = attach_request(4);
    unaligned.ring_offset = 100;
    EXPECT_EQ(refused(unaligned, three), -EINVAL);
    auto past_end = attach_request(4);
    past_end.ring_offset = 1 << 20;  // beyond the 8 KiB memfd
    EXPECT_EQ(refused(past_end, three), -EINVAL);
    auto overflow = attach_request(4);
    overflow.ring_offset = ~0ull & ~4095ull;
    EXPECT_EQ(refused(overflow, three), -EINVAL);
    EXPECT_EQ(refused(attach_request(4), {fds[0], fds[0], fds[2]}), -EINVAL);  // not an eventfd

    Fd first = monitor();
    ASSERT_EQ(attach(first.get(), 4), 0);
    EXPECT_EQ(refused(attach_request(4), three), -EEXIST);
    EXPECT_NE(::kill(daemon_.pid(), 0), -1);  // still alive after all that
}

TEST_F(DomainAttachTest, HostileRingIndexCutsOffOnlyThatGuest) {
    Fd socket = monitor();
    ASSERT_EQ(attach(socket.get(), 11), 0) << daemon_.log();
    guest_.ring()->req_prod = guest_.ring()->req_cons + 5000;
    guest_.kick();
    // The store raises the port once it has set the error field.
    pollfd kicked{guest_.store_notify_fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&kicked, 1, 10000), 1) << daemon_.log();
    EXPECT_EQ(guest_.ring()->error, unsigned(XENSTORE_ERROR_RINGIDX));
    Fd dom0 = connect_unix(daemon_.tool_socket(), SOCK_STREAM);
    EXPECT_EQ(xs_call(dom0.get(), XS_WRITE, std::string("/alive\0yes", 10)),
              std::string("OK\0", 3));
}

}  // namespace
}  // namespace domus::test
