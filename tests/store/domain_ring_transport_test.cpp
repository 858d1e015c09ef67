// DomainRingTransport against a fake guest: framing across the ring wrap, replies
// larger than the free space, watch events, and hostile indices and lengths.
#include "store/domain_ring_transport.hpp"

#include <gtest/gtest.h>

#include "allocation_fault.hpp"
#include "client.hpp"
#include "ring_fixture.hpp"
#include "store/state_journal.hpp"

#include <filesystem>

#include <poll.h>

namespace domus::store {
namespace {

using testing::FakeGuest;
using testing::kOk;
using testing::strings;
using testing::z;

std::string request(std::uint32_t type, std::string payload, std::uint32_t req_id = 1) {
    return encode(Message{type, req_id, 0, std::move(payload)});
}

// The guest publishes `bytes` (all must fit) and kicks; the store runs.
void guest_sends(FakeGuest& guest, DomainRingTransport& transport, std::string_view bytes) {
    ASSERT_EQ(guest.produce(bytes), bytes.size());
    guest.kick();
    transport.on_guest_notify();
}

// Replies and events that arrived at `guest`, decoded.
std::vector<Message> guest_receives(FakeGuest& guest, Decoder& decoder) {
    decoder.feed(guest.consume());
    std::vector<Message> out;
    for (auto next = decoder.next(); next.status == Decoder::Status::Message; next = decoder.next())
        out.push_back(next.message);
    return out;
}

class RingTest : public ::testing::Test {
protected:
    static constexpr DomainId kDomid = 5;

    void attach() { transport_ = serve(guest_, kDomid); }
    std::unique_ptr<DomainRingTransport> serve(FakeGuest& guest, DomainId domid) {
        return std::make_unique<DomainRingTransport>(
            store_, router_, domid, testing::map_page(guest.memfd(), FakeGuest::kRingOffset),
            guest.dup_fd(guest.guest_notify_fd()), guest.dup_fd(guest.store_notify_fd()));
    }
    void send(std::string_view bytes) { guest_sends(guest_, *transport_, bytes); }
    // What a toolstack does before starting a guest: its home readable by it
    // (n0 r<domid>), and a data folder it owns.
    void make_home(DomainId domid = kDomid) {
        testing::Client dom0(store_, 0, true);
        std::string home = fmt::format("/local/domain/{}", domid);
        ASSERT_EQ(dom0.mkdir(home), kOk);
        ASSERT_EQ(dom0.set_perms(home, {"n0", fmt::format("r{}", domid)}), kOk);
        ASSERT_EQ(dom0.mkdir(home + "/data"), kOk);
        ASSERT_EQ(dom0.set_perms(home + "/data", {fmt::format("n{}", domid)}), kOk);
    }
    std::vector<Message> receive() { return guest_receives(guest_, decoder_); }

    Store store_;
    EventRouter router_{store_};
    FakeGuest guest_;
    std::unique_ptr<DomainRingTransport> transport_;
    Decoder decoder_;
};

TEST_F(RingTest, AdvertisesOnlyTheErrorField) {
    attach();
    EXPECT_EQ(guest_.ring()->server_features, unsigned(XENSTORE_SERVER_FEATURE_ERROR));
    EXPECT_EQ(guest_.ring()->error, unsigned(XENSTORE_ERROR_NONE));
}

TEST_F(RingTest, WritesAndReadsARelativePath) {
    make_home();
    testing::Client dom0(store_, 0, true);
    attach();
    send(request(XS_WRITE, z("data/x") + "42", 7) + request(XS_READ, z("data/x"), 8));
    auto replies = receive();
    ASSERT_EQ(replies.size(), 2u);
    EXPECT_EQ(replies[0], (Message{XS_WRITE, 7, 0, kOk}));
    EXPECT_EQ(replies[1], (Message{XS_READ, 8, 0, "42"}));
    EXPECT_EQ(dom0.read("/local/domain/5/data/x"), "42");
    EXPECT_GE(guest_.store_kicks(), 1u);
    EXPECT_EQ(guest_.ring()->req_cons, guest_.ring()->req_prod);
}

TEST_F(RingTest, RequestSplitAcrossTheWrapAndAcrossKicks) {
    // Indices just below 2^32: the stream wraps both the ring and the u32 counter.
    guest_.set_indices(0xffffffff - 20);
    make_home();
    attach();
    std::string write = request(XS_WRITE, z("data/w") + std::string(900, 'v'));
    send(write.substr(0, 10));  // half a header
    EXPECT_TRUE(receive().empty());
    send(write.substr(10));
    auto replies = receive();
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].payload, kOk);
    send(request(XS_READ, z("data/w")));
    replies = receive();
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].payload, std::string(900, 'v'));
    EXPECT_EQ(transport_->error(), unsigned(XENSTORE_ERROR_NONE));
}

TEST_F(RingTest, ReplyLargerThanFreeSpaceIsQueuedAndFlushedAsTheGuestConsumes) {
    testing::Client dom0(store_, 0, true);
    ASSERT_EQ(dom0.write("/big", std::string(3000, 'b')), kOk);
    ASSERT_EQ(dom0.set_perms("/big", {"r0"}), kOk);  // readable by everyone
    attach();
    send(request(XS_READ, z("/big"), 9));
    EXPECT_EQ(guest_.ring()->rsp_prod - guest_.ring()->rsp_cons, unsigned(XENSTORE_RING_SIZE));
    EXPECT_EQ(transport_->pending_output(), 16 + 3000 - XENSTORE_RING_SIZE);
    std::vector<Message> replies;
    for (int round = 0; round < 5 && replies.empty(); ++round) {
        replies = receive();
        guest_.kick();  // "I consumed": the store continues
        transport_->on_guest_notify();
    }
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0], (Message{XS_READ, 9, 0, std::string(3000, 'b')}));
    EXPECT_EQ(transport_->pending_output(), 0u);
}

// The guest reads without kicking, as Linux's xenbus does unless the ring was full:
// what waits for space goes in on the retry timer, which backs off while nothing moves
// and is disarmed once all of it is in.
TEST_F(RingTest, OutputWaitingForSpaceIsRetriedWithoutAKick) {
    testing::Client dom0(store_, 0, true);
    ASSERT_EQ(dom0.write("/big", std::string(3000, 'b')), kOk);
    ASSERT_EQ(dom0.set_perms("/big", {"r0"}), kOk);
    attach();
    send(request(XS_READ, z("/big"), 9));
    ASSERT_GT(transport_->pending_output(), 0u);
    EXPECT_EQ(transport_->retry_delay_ns(), 1'000'000u);
    // Nothing consumed: each retry finds no space and waits twice as long.
    pollfd timer{transport_->retry_fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&timer, 1, 1000), 1);
    transport_->on_retry();
    EXPECT_EQ(transport_->retry_delay_ns(), 2'000'000u);
    std::vector<Message> replies;
    for (int round = 0; round < 5 && transport_->pending_output() > 0; ++round) {
        auto got = receive();  // no kick
        replies.insert(replies.end(), got.begin(), got.end());
        ASSERT_EQ(::poll(&timer, 1, 1000), 1) << "round " << round;
        transport_->on_retry();
    }
    auto last = receive();
    replies.insert(replies.end(), last.begin(), last.end());
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0], (Message{XS_READ, 9, 0, std::string(3000, 'b')}));
    EXPECT_EQ(transport_->pending_output(), 0u);
    EXPECT_EQ(transport_->retry_delay_ns(), 0u);
    EXPECT_EQ(::poll(&timer, 1, 20), 0) << "the timer stays quiet once all is written";
}

// Whole messages where they fit: an event that does not fit beside the ones the guest
// has not read yet waits, in a ring that is not full, and arrives once they are read.
TEST_F(RingTest, AnEventWaitingBesideUnreadOnesArrivesWithoutAKick) {
    make_home();
    attach();
    send(request(XS_WATCH, z("/local/domain/5/data") + z("tok"), 2));
    ASSERT_EQ(receive().size(), 2u);  // the reply and the first event
    testing::Client dom0(store_, 0, true);
    std::string leaf = "/local/domain/5/data/" + std::string(200, 'x');
    int events = 0;
    for (int i = 0; i < 8; ++i)
        ASSERT_EQ(dom0.write(leaf + std::to_string(i), "v"), kOk);
    router_.route();
    XENSTORE_RING_IDX used = guest_.ring()->rsp_prod - guest_.ring()->rsp_cons;
    ASSERT_LT(used, unsigned(XENSTORE_RING_SIZE)) << "the test needs a ring that is not full";
    ASSERT_GT(transport_->pending_output(), 0u);
    pollfd timer{transport_->retry_fd(), POLLIN, 0};
    for (int round = 0; round < 8 && transport_->pending_output() > 0; ++round) {
        events += int(receive().size());  // no kick
        ASSERT_EQ(::poll(&timer, 1, 1000), 1) << "round " << round;
        transport_->on_retry();
    }
    events += int(receive().size());
    EXPECT_EQ(events, 8);
    EXPECT_EQ(transport_->pending_output(), 0u);
}

TEST_F(RingTest, WatchEventsFromOtherConnectionsReachTheRing) {
    testing::Client dom0(store_, 0, true);
    attach();
    send(request(XS_WATCH, strings({"@introduceDomain", "tok"})));
    // Unprivileged: the watch is accepted, its first event fires (spec 1.6).
    auto messages = receive();
    ASSERT_EQ(messages.size(), 2u);
    EXPECT_EQ(messages[1].type, unsigned(XS_WATCH_EVENT));
    send(request(XS_WATCH, strings({"/shared", "t2"})));
    receive();
    guest_.store_kicks();
    ASSERT_EQ(dom0.write("/shared/k", "v"), kOk);
    EXPECT_EQ(dom0.set_perms("/shared/k", {"r0"}), kOk);
    router_.route();
    messages = receive();
    ASSERT_FALSE(messages.empty());
    EXPECT_EQ(messages[0], (Message{XS_WATCH_EVENT, 0, 0, strings({"/shared/k", "t2"})}));
    EXPECT_GE(guest_.store_kicks(), 1u);
}

TEST_F(RingTest, BogusRequestIndexSetsTheErrorFieldAndStopsServing) {
    attach();
    guest_.ring()->req_prod = guest_.ring()->req_cons + 2000;  // more than the ring holds
    guest_.kick();
    transport_->on_guest_notify();
    EXPECT_EQ(guest_.ring()->error, unsigned(XENSTORE_ERROR_RINGIDX));
    EXPECT_EQ(transport_->error(), unsigned(XENSTORE_ERROR_RINGIDX));
    // Later kicks are ignored: nothing is consumed or produced.
    XENSTORE_RING_IDX cons = guest_.ring()->req_cons;
    guest_.ring()->req_prod = cons + 16;
    guest_.kick();
    transport_->on_guest_notify();
    EXPECT_EQ(guest_.ring()->req_cons, cons);
    EXPECT_EQ(guest_.ring()->rsp_prod, 0u);
}

TEST_F(RingTest, BogusResponseIndexSetsTheErrorField) {
    testing::Client dom0(store_, 0, true);
    ASSERT_EQ(dom0.write("/big", std::string(2000, 'b')), kOk);
    ASSERT_EQ(dom0.set_perms("/big", {"r0"}), kOk);
    attach();
    send(request(XS_READ, z("/big")));                      // leaves output queued
    guest_.ring()->rsp_cons = guest_.ring()->rsp_prod + 5;  // "consumed" unwritten bytes
    guest_.kick();
    transport_->on_guest_notify();
    EXPECT_EQ(guest_.ring()->error, unsigned(XENSTORE_ERROR_RINGIDX));
}

TEST_F(RingTest, PayloadOverTheLimitIsAProtocolError) {
    attach();
    xsd_sockmsg header{XS_WRITE, 1, 0, XENSTORE_PAYLOAD_MAX + 1};
    send(std::string_view(reinterpret_cast<const char*>(&header), sizeof(header)));
    EXPECT_EQ(guest_.ring()->error, unsigned(XENSTORE_ERROR_PROTO));
    EXPECT_EQ(transport_->error(), unsigned(XENSTORE_ERROR_PROTO));
}

TEST_F(RingTest, StopsReadingRequestsWhileRepliesPileUp) {
    testing::Client dom0(store_, 0, true);
    ASSERT_EQ(dom0.write("/v", std::string(900, 'x')), kOk);
    ASSERT_EQ(dom0.set_perms("/v", {"r0"}), kOk);
    attach();
    std::string read = request(XS_READ, z("/v"));
    // The guest never consumes replies but keeps sending reads.
    for (int i = 0; i < 40; ++i) {
        guest_.produce(read);
        guest_.kick();
        transport_->on_guest_notify();
    }
    EXPECT_LT(transport_->pending_output(),
              DomainRingTransport::kReplyBackpressure + XENSTORE_RING_SIZE + 16 + 900);
    EXPECT_NE(guest_.ring()->req_cons, guest_.ring()->req_prod);  // held back, not dropped
    EXPECT_EQ(transport_->error(), unsigned(XENSTORE_ERROR_NONE));
    // Once it reads, every reply arrives intact and in order.
    std::size_t replies = 0;
    for (int round = 0; round < 200 && guest_.ring()->req_cons != guest_.ring()->req_prod;
         ++round) {
        replies += receive().size();
        guest_.kick();
        transport_->on_guest_notify();
    }
    for (int round = 0; round < 50; ++round) {
        replies += receive().size();
        guest_.kick();
        transport_->on_guest_notify();
    }
    EXPECT_GT(replies, 10u);
    EXPECT_EQ(transport_->pending_output(), 0u);
}

TEST_F(RingTest, ClosingDropsTheConnection) {
    attach();
    send(request(XS_WATCH, strings({"/x", "t"})));
    transport_.reset();
    testing::Client dom0(store_, 0, true);
    EXPECT_EQ(dom0.write("/x", "1"), kOk);
    EXPECT_TRUE(store_.take_notified().empty());
}

TEST_F(RingTest, AnExceptionWhileServingAGuestCutsOffOnlyThatGuest) {
    make_home();
    make_home(6);
    attach();
    FakeGuest other;
    auto other_transport = serve(other, 6);
    testing::Client dom0(store_, 0, true);

    // Not std::bad_alloc: whatever a guest's request makes the handling throw.
    ASSERT_EQ(guest_.produce(request(XS_WRITE, z("data/x") + "1")), 24u);
    guest_.kick();
    testing::fail_allocation();
    transport_->on_guest_notify();
    testing::cancel_allocation_fault();
    EXPECT_EQ(transport_->error(), unsigned(XENSTORE_ERROR_COMM));
    EXPECT_EQ(guest_.ring()->error, unsigned(XENSTORE_ERROR_COMM));
    EXPECT_EQ(dom0.read("/local/domain/5/data/x"), "ERR:ENOENT");

    // The other guest and dom0 are served as before.
    Decoder other_decoder;
    guest_sends(other, *other_transport, request(XS_WRITE, z("data/y") + "2", 3));
    auto replies = guest_receives(other, other_decoder);
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0], (Message{XS_WRITE, 3, 0, kOk}));
    EXPECT_EQ(other_transport->error(), unsigned(XENSTORE_ERROR_NONE));
    EXPECT_EQ(dom0.read("/local/domain/6/data/y"), "2");
    EXPECT_EQ(dom0.write("/after", "ok"), kOk);
}

TEST_F(RingTest, OneGuestsWarningsDoNotSilenceAnothers) {
    testing::Client dom0(store_, 0, true);
    ASSERT_EQ(dom0.write("/shared", ""), kOk);
    ASSERT_EQ(dom0.set_perms("/shared", {"r0"}), kOk);  // everyone may read
    attach();
    // dom5 watches with a long token and never consumes: once its queue is full, each
    // event dropped is a warning, far more than its rate limit lets through.
    send(request(XS_WATCH, strings({"/shared", std::string(900, 't')})));
    for (std::size_t i = 0; transport_->dropped_events() < 40 && i < 2000; ++i) {
        ASSERT_EQ(dom0.write("/shared/k", std::to_string(i)), kOk);
        router_.route();
    }
    ASSERT_GE(transport_->dropped_events(), 40u);
    ASSERT_GT(transport_->suppressed_warnings(), 0u);

    // Right after, another guest misbehaves once: its warning is logged all the same.
    FakeGuest other;
    auto other_transport = serve(other, 6);
    other.ring()->req_prod = other.ring()->req_cons + 2000;
    other.kick();
    ::testing::internal::CaptureStderr();
    other_transport->on_guest_notify();
    std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(other_transport->error(), unsigned(XENSTORE_ERROR_RINGIDX));
    EXPECT_NE(log.find("dom6: ring error"), std::string::npos) << log;
}

// A store killed after journaling a batch from the ring, before it moved req_cons or
// finished writing the output: the next store, on the same page, finishes that batch
// from the journal (req_cons past it, the rest of its output) and does not apply it
// again.
TEST(DomainRingRestartTest, AJournaledBatchIsFinishedFromTheJournalNotRepeated) {
    std::string dir = ::testing::TempDir() + "ring-restart-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    FakeGuest guest;
    guest.set_indices(100);  // free-running indices, not starting at 0
    std::string request;
    encode(Message{XS_WATCH, 3, 0, strings({"data", "tok"})}, request);
    ASSERT_EQ(guest.produce(request), request.size());

    ConnectionId id = 0;
    std::string output;  // what the dead store meant to put in `rsp`: OK, then the event
    {
        Store dead;
        auto journal = StateJournal::recover(dead, dir);
        ASSERT_TRUE(journal);
        Connection& c = dead.connect({5, false});
        id = c.id();
        encode(dead.handle(c, Message{XS_WATCH, 3, 0, strings({"data", "tok"})}), output);
        std::size_t reply_size = output.size();
        output += dead.take_event_bytes(c);
        dead.set_last_reply(
            c, ReplyRecord{{}, output, true, XENSTORE_RING_IDX(100 + request.size()), 100});
        (*journal)->commit();
        // It got the reply into the ring, then died before the event and req_cons.
        for (std::size_t i = 0; i < reply_size; ++i)
            guest.ring()->rsp[MASK_XENSTORE_IDX(100 + i)] = output[i];
        guest.ring()->rsp_prod = XENSTORE_RING_IDX(100 + reply_size);
    }
    std::string seen = guest.consume();  // the guest already read the reply

    Store store;
    auto journal = StateJournal::recover(store, dir);
    ASSERT_TRUE(journal);
    EventRouter router(store);
    Connection* restored = store.adopt(id);
    ASSERT_NE(restored, nullptr);
    DomainRingTransport transport(store, router, 5,
                                  testing::map_page(guest.memfd(), FakeGuest::kRingOffset),
                                  guest.dup_fd(guest.guest_notify_fd()),
                                  guest.dup_fd(guest.store_notify_fd()), journal->get(), restored);
    transport.restore();
    EXPECT_EQ(guest.ring()->req_cons, XENSTORE_RING_IDX(100 + request.size()));
    seen += guest.consume();
    EXPECT_EQ(seen, output);  // each byte once: the rest of the batch's output
    EXPECT_GT(guest.store_kicks(), 0u);

    // The same request again is a new one, applied now: the watch exists already.
    ASSERT_EQ(guest.produce(request), request.size());
    guest.kick();
    transport.on_guest_notify();
    std::string again = guest.consume();
    ASSERT_GE(again.size(), sizeof(xsd_sockmsg));
    xsd_sockmsg header;
    std::memcpy(&header, again.data(), sizeof(header));
    EXPECT_EQ(header.type, XS_ERROR);
    EXPECT_EQ(again.substr(sizeof(header), header.len), z("EEXIST"));
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace domus::store
