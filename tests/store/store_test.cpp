// Tests for store/store: the request surface end to end (node requests, domain
// requests, privilege, error replies, the byte-stream entry) and a randomized
// hostile-client run that must neither crash nor produce malformed replies.
#include "store/store.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "client.hpp"

namespace domus::store {
namespace {

std::uint32_t next32(std::mt19937& rng) {
    return static_cast<std::uint32_t>(rng());
}

using testing::Client;
using testing::kOk;
using testing::strings;
using testing::z;

TEST(StoreTest, BasicNodeRequests) {
    Store store;
    Client c(store, 0, true);
    EXPECT_EQ(c.write("/a/b", "hello"), kOk);
    EXPECT_EQ(c.read("/a/b"), "hello");
    EXPECT_EQ(c.read("/a"), "");
    EXPECT_EQ(c.call(XS_DIRECTORY, z("/a")), z("b"));
    EXPECT_EQ(c.call(XS_DIRECTORY, z("/a/b")), "");
    EXPECT_EQ(c.call(XS_GET_PERMS, z("/a/b")), z("n0"));
    EXPECT_EQ(c.mkdir("/m/n"), kOk);
    EXPECT_EQ(c.rm("/a"), kOk);
    EXPECT_EQ(c.read("/a/b"), "ERR:ENOENT");
    EXPECT_EQ(c.rm("/"), "ERR:EINVAL");
    EXPECT_EQ(c.read("bad path"), "ERR:EINVAL");
    EXPECT_EQ(c.call(XS_READ, "/m"), "ERR:EINVAL");  // no NUL
    EXPECT_EQ(c.call(XS_READ, strings({"/m", "extra"})), "ERR:EINVAL");
}

TEST(StoreTest, ReplyEchoesHeader) {
    Store store;
    Client c(store, 0, true);
    Message reply = c.send(XS_WRITE, z("/x") + "1");
    EXPECT_EQ(reply.type, static_cast<std::uint32_t>(XS_WRITE));
    EXPECT_EQ(reply.req_id, 7u);
    Message error = c.send(XS_READ, z("/nope"));
    EXPECT_EQ(error.type, static_cast<std::uint32_t>(XS_ERROR));
    EXPECT_EQ(error.req_id, 7u);
    EXPECT_EQ(error.payload, z("ENOENT"));
}

TEST(StoreTest, UnknownAndServerOnlyTypesAreEnosys) {
    Store store;
    Client c(store, 0, true);
    for (std::uint32_t type : {15u, 16u, 20u, 23u, 26u, 27u, 999u, 0xFFFFu, 0xFFFFFFFFu})
        EXPECT_EQ(c.call(type, z("")), "ERR:ENOSYS") << type;
    EXPECT_EQ(c.call(XS_CONTROL, z("print")), "ERR:ENOSYS");
}

TEST(StoreTest, PrivilegedRequestsRefusedToGuests) {
    Store store;
    Client guest(store, 5, false);
    EXPECT_EQ(guest.call(XS_INTRODUCE, strings({"6", "1", "2"})), "ERR:EACCES");
    EXPECT_EQ(guest.call(XS_RELEASE, z("6")), "ERR:EACCES");
    EXPECT_EQ(guest.call(XS_IS_DOMAIN_INTRODUCED, z("6")), "ERR:EACCES");
    EXPECT_EQ(guest.call(XS_RESUME, z("6")), "ERR:EACCES");
    EXPECT_EQ(guest.call(XS_SET_TARGET, strings({"6", "5"})), "ERR:EACCES");
    EXPECT_EQ(guest.call(XS_CONTROL, z("print")), "ERR:EACCES");
    EXPECT_EQ(guest.call(XS_GET_DOMAIN_PATH, z("5")), z("/local/domain/5"));
    EXPECT_TRUE(store.take_domain_changes().empty());
}

TEST(StoreTest, IntroduceReleaseLifecycle) {
    Store store;
    Client dom0(store, 0, true);
    EXPECT_EQ(dom0.call(XS_IS_DOMAIN_INTRODUCED, z("3")), z("F"));
    EXPECT_EQ(dom0.call(XS_IS_DOMAIN_INTRODUCED, z("0")), z("T"));
    EXPECT_EQ(dom0.call(XS_INTRODUCE, strings({"3", "4096", "7"})), kOk);
    EXPECT_EQ(dom0.call(XS_IS_DOMAIN_INTRODUCED, z("3")), z("T"));
    const DomainRecord* record = store.domain(3);
    ASSERT_NE(record, nullptr);
    EXPECT_EQ(record->ring_gfn, 4096u);
    EXPECT_EQ(record->event_port, 7u);
    auto changes = store.take_domain_changes();
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(changes[0].kind, DomainChange::Kind::Introduced);
    EXPECT_EQ(dom0.call(XS_INTRODUCE, strings({"0", "1", "1"})), "ERR:EINVAL");
    EXPECT_EQ(dom0.call(XS_INTRODUCE, strings({"32752", "1", "1"})), "ERR:EINVAL");  // DOMID_SELF
    EXPECT_EQ(dom0.call(XS_INTRODUCE, strings({"3", "x", "1"})), "ERR:EINVAL");
    EXPECT_EQ(dom0.call(XS_INTRODUCE, strings({"3", "1"})), "ERR:EINVAL");
    EXPECT_EQ(dom0.call(XS_RELEASE, z("3")), kOk);
    EXPECT_EQ(dom0.call(XS_RELEASE, z("3")), "ERR:ENOENT");
    EXPECT_EQ(dom0.call(XS_RESUME, z("3")), "ERR:ENOENT");
    EXPECT_EQ(store.domain(3), nullptr);
    changes = store.take_domain_changes();
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(changes[0].kind, DomainChange::Kind::Released);
    EXPECT_EQ(dom0.call(XS_GET_DOMAIN_PATH, z("70000")), "ERR:EINVAL");
}

TEST(StoreTest, SetTargetGivesStubdomOwnerRights) {
    Store store;
    Client dom0(store, 0, true);
    Client stub(store, 8, false);
    ASSERT_EQ(dom0.write("/local/domain/3/device-model", "x"), kOk);
    ASSERT_EQ(dom0.set_perms("/local/domain/3/device-model", {"n3"}), kOk);
    EXPECT_EQ(stub.read("/local/domain/3/device-model"), "ERR:EACCES");
    ASSERT_EQ(dom0.call(XS_SET_TARGET, strings({"8", "3"})), kOk);
    EXPECT_EQ(stub.read("/local/domain/3/device-model"), "x");
    EXPECT_EQ(stub.write("/local/domain/3/device-model", "y"), kOk);
}

TEST(StoreTest, DirectoryTooBigThenDirectoryPart) {
    Store store;
    Client c(store, 0, true);
    for (int i = 0; i < 400; ++i)
        ASSERT_EQ(c.mkdir("/big/a-rather-long-child-name-" + std::to_string(i)), kOk);
    EXPECT_EQ(c.call(XS_DIRECTORY, z("/big")), "ERR:E2BIG");
    std::string first = c.call(XS_DIRECTORY_PART, strings({"/big", "0"}));
    ASSERT_LE(first.size(), 4096u);
    EXPECT_NE(first.find("a-rather-long-child-name-0"), std::string::npos);
    EXPECT_EQ(c.call(XS_DIRECTORY_PART, strings({"/big", "-1"})), "ERR:EINVAL");
    EXPECT_EQ(c.call(XS_DIRECTORY_PART, z("/big")), "ERR:EINVAL");
}

TEST(StoreTest, ReceiveHandlesSplitStreamAndOrdersWatchEventAfterOk) {
    Store store;
    Connection& conn = store.connect({0, true});
    std::string stream = encode(Message{XS_WATCH, 1, 0, strings({"/w", "tok"})});
    Store::Output first = store.receive(conn, std::string_view(stream).substr(0, 10));
    EXPECT_TRUE(first.bytes.empty());
    Store::Output rest = store.receive(conn, std::string_view(stream).substr(10));
    EXPECT_FALSE(rest.close);
    std::string expected = encode(Message{XS_WATCH, 1, 0, z("OK")}) +
                           encode(Message{XS_WATCH_EVENT, 0, 0, strings({"/w", "tok"})});
    EXPECT_EQ(rest.bytes, expected);
}

TEST(StoreTest, ReceiveClosesOnOversizedPayload) {
    Store store;
    Connection& conn = store.connect({5, false});
    xsd_sockmsg header{XS_WRITE, 0, 0, 5000};
    Store::Output out =
        store.receive(conn, std::string_view(reinterpret_cast<const char*>(&header), 16));
    EXPECT_TRUE(out.close);
    store.disconnect(conn);
}

TEST(StoreTest, NotifiedListsOtherConnections) {
    Store store;
    Client writer(store, 0, true);
    Client watcher(store, 0, true);
    ASSERT_EQ(watcher.watch_from_now("/n", "t"), kOk);
    store.take_notified();
    ASSERT_EQ(writer.write("/n", "1"), kOk);
    auto notified = store.take_notified();
    ASSERT_EQ(notified.size(), 1u);
    EXPECT_EQ(notified[0], &watcher.connection());
    EXPECT_EQ(store.take_event_bytes(watcher.connection()),
              encode(Message{XS_WATCH_EVENT, 0, 0, strings({"/n", "t"})}));
}

TEST(StoreTest, DisconnectDropsState) {
    Store store;
    Client dom0(store, 0, true);
    Connection& conn = store.connect({0, true});
    ASSERT_EQ(store.handle(conn, Message{XS_WATCH, 0, 0, strings({"/d", "t"})}).payload, kOk);
    store.disconnect(conn);
    ASSERT_EQ(dom0.write("/d", "1"), kOk);  // must not touch the dropped connection
    EXPECT_TRUE(store.take_notified().empty());
}

// Checks the shape every reply must have.
void expect_well_formed(const Message& request, const Message& reply) {
    ASSERT_LE(reply.payload.size(), static_cast<std::size_t>(XENSTORE_PAYLOAD_MAX));
    EXPECT_EQ(reply.req_id, request.req_id);
    EXPECT_EQ(reply.tx_id, request.tx_id);
    if (reply.type == XS_ERROR) {
        ASSERT_FALSE(reply.payload.empty());
        EXPECT_EQ(reply.payload.back(), '\0');
        EXPECT_EQ(reply.payload[0], 'E');
    } else {
        EXPECT_EQ(reply.type, request.type);
    }
}

std::string random_path(std::mt19937& rng) {
    static const char* parts[] = {
        "a",   "b", "c",  "local", "domain",         "5",  "data", "@introduceDomain",
        "x-y", "",  "..", " ",     "@releaseDomain", "Z_9"};
    std::string path = next32(rng) % 4 == 0 ? "" : "/";
    int depth = static_cast<int>(next32(rng) % 5);
    for (int i = 0; i < depth; ++i) {
        if (i) path += '/';
        path += parts[next32(rng) % std::size(parts)];
    }
    if (next32(rng) % 20 == 0) path += '/';
    return path;
}

std::string random_payload(std::mt19937& rng) {
    std::string payload;
    switch (next32(rng) % 5) {
        case 0: {  // random bytes
            payload.resize(next32(rng) % 64);
            for (auto& b : payload)
                b = static_cast<char>(next32(rng));
            break;
        }
        case 1:
            payload = z(random_path(rng));
            break;
        case 2:
            payload = z(random_path(rng)) + z(std::to_string(next32(rng) % 40));
            break;
        case 3:
            payload = z(random_path(rng)) + z("b" + std::to_string(next32(rng) % 8)) + z("r5");
            break;
        default:
            payload = z(random_path(rng)) + std::string(next32(rng) % 3000, 'v');
            break;
    }
    if (next32(rng) % 10 == 0 && !payload.empty()) payload.pop_back();  // drop the final NUL
    return payload;
}

TEST(StoreFuzzTest, RandomRequestsFromHostileClients) {
    Store store;
    std::mt19937 rng(20240601);
    Client dom0(store, 0, true);
    ASSERT_EQ(dom0.mkdir("/local/domain/5/data"), kOk);
    ASSERT_EQ(dom0.set_perms("/local/domain/5/data", {"n5"}), kOk);
    std::vector<Connection*> connections{&store.connect({5, false}), &store.connect({6, false}),
                                         &store.connect({0, true})};
    for (int i = 0; i < 20000; ++i) {
        Connection& conn = *connections[next32(rng) % connections.size()];
        Message request{static_cast<std::uint32_t>(next32(rng) % 28), next32(rng) % 4,
                        static_cast<std::uint32_t>(next32(rng) % 8 == 0 ? next32(rng) % 4 : 0),
                        random_payload(rng)};
        if (request.payload.size() > XENSTORE_PAYLOAD_MAX)
            request.payload.resize(XENSTORE_PAYLOAD_MAX);
        Message reply = store.handle(conn, request);
        ASSERT_NO_FATAL_FAILURE(expect_well_formed(request, reply));
        for (const Message& event : store.take_events(conn)) {
            ASSERT_EQ(event.type, static_cast<std::uint32_t>(XS_WATCH_EVENT));
            ASSERT_LE(event.payload.size(), static_cast<std::size_t>(XENSTORE_PAYLOAD_MAX));
            ASSERT_EQ(event.payload.back(), '\0');
        }
        if (next32(rng) % 500 == 0) store.domain_shutdown(static_cast<DomainId>(next32(rng) % 8));
    }
    for (Connection* conn : store.take_notified())
        store.take_events(*conn);
    EXPECT_TRUE(store.tree().consistent());
    EXPECT_GT(store.tree().size(), 1u);
}

TEST(StoreFuzzTest, RandomByteStreamsThroughReceive) {
    Store store;
    std::mt19937 rng(99);
    for (int round = 0; round < 300; ++round) {
        Connection& conn =
            store.connect({static_cast<DomainId>(next32(rng) % 4), next32(rng) % 2 == 0});
        for (int piece = 0; piece < 30; ++piece) {
            std::string bytes;
            if (next32(rng) % 3) {
                Message m{static_cast<std::uint32_t>(next32(rng) % 28), next32(rng),
                          next32(rng) % 3 ? 0u : next32(rng) % 3, random_payload(rng)};
                if (m.payload.size() > XENSTORE_PAYLOAD_MAX) m.payload.resize(XENSTORE_PAYLOAD_MAX);
                bytes = encode(m);
            } else {
                bytes.resize(next32(rng) % 40);
                for (auto& b : bytes)
                    b = static_cast<char>(next32(rng));
            }
            std::size_t cut = bytes.empty() ? 0 : next32(rng) % bytes.size();
            Store::Output a = store.receive(conn, std::string_view(bytes).substr(0, cut));
            Store::Output b = store.receive(conn, std::string_view(bytes).substr(cut));
            // Everything produced decodes as complete, bounded messages.
            Decoder check;
            check.feed(a.bytes + b.bytes);
            for (auto next = check.next(); next.status != Decoder::Status::NeedMore;
                 next = check.next())
                ASSERT_EQ(next.status, Decoder::Status::Message);
            EXPECT_EQ(check.buffered(), 0u);
            if (a.close || b.close) break;
        }
        store.disconnect(conn);
    }
    store.take_notified();
    EXPECT_TRUE(store.tree().consistent());
}

}  // namespace
}  // namespace domus::store
