// Journal and StateJournal: what a store replays after its death is what it had
// acknowledged (tree, permissions, watches, domains), a torn last record is ignored,
// and compaction is crash-safe at each of its steps.
#include "store/journal.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "store/state_journal.hpp"
#include "store/store.hpp"

namespace domus::store {
namespace {

std::string nul(std::string text) {
    return text + '\0';
}

class JournalTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = ::testing::TempDir() + "journal-test-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name();
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        open_store();
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // A fresh Store recovered from the files, as a restarted daemon gets it.
    void open_store() {
        journal_.reset();
        store_ = std::make_unique<Store>();
        auto recovered = StateJournal::recover(*store_, dir_);
        ASSERT_TRUE(recovered) << recovered.error().message;
        journal_ = std::move(recovered).value();
    }

    // One request on `c`, journaled before its reply is returned, as transports do.
    Message request(Connection& c, std::uint32_t type, std::string payload, std::uint32_t tx = 0) {
        Message reply = store_->handle(c, Message{type, 1, tx, std::move(payload)});
        journal_->commit();
        return reply;
    }

    std::string read(Connection& c, const std::string& path) {
        Message reply = store_->handle(c, Message{XS_READ, 1, 0, nul(path)});
        return reply.type == XS_ERROR ? "<" + reply.payload + ">" : reply.payload;
    }

    std::string perms(Connection& c, const std::string& path) {
        return store_->handle(c, Message{XS_GET_PERMS, 1, 0, nul(path)}).payload;
    }

    std::string dir_;
    std::unique_ptr<Store> store_;
    std::unique_ptr<StateJournal> journal_;
};

TEST_F(JournalTest, ReplayReproducesTreePermissionsWatchesAndDomains) {
    Connection& tool = store_->connect({0, true});
    ConnectionId tool_id = tool.id();
    request(tool, XS_WRITE, nul("/a/b") + "hello");
    request(tool, XS_SET_PERMS, nul("/a/b") + nul("n5") + nul("r7"));
    request(tool, XS_MKDIR, nul("/gone/child"));
    request(tool, XS_RM, nul("/gone"));
    request(tool, XS_WATCH, nul("/a") + nul("tok"));
    request(tool, XS_WATCH, nul("/x") + nul("t2"));
    request(tool, XS_UNWATCH, nul("/x") + nul("t2"));
    request(tool, XS_INTRODUCE, nul("3") + nul("4096") + nul("9"));
    request(tool, XS_SET_PERMS, nul("@releaseDomain") + nul("n0") + nul("r3"));
    Connection& guest = store_->connect({3, false});
    ConnectionId guest_id = guest.id();
    journal_->commit();
    request(guest, XS_WATCH, nul("data") + nul("rel"));  // relative to /local/domain/3
    std::string before = store_->encode_state();
    std::size_t nodes = store_->tree().size();

    open_store();  // the daemon died; a new one replays

    EXPECT_EQ(store_->tree().size(), nodes);
    EXPECT_TRUE(store_->tree().consistent());
    Connection* restored = store_->adopt(tool_id);
    ASSERT_NE(restored, nullptr);
    EXPECT_EQ(read(*restored, "/a/b"), "hello");
    EXPECT_EQ(perms(*restored, "/a/b"), nul("n5") + nul("r7"));
    EXPECT_EQ(read(*restored, "/gone"), "<ENOENT" + std::string(1, '\0') + ">");
    ASSERT_EQ(restored->watches().size(), 1u);
    EXPECT_EQ(restored->watches().all()[0].path, "/a");
    EXPECT_EQ(restored->watches().all()[0].token, "tok");
    Connection* restored_guest = store_->adopt(guest_id);
    ASSERT_NE(restored_guest, nullptr);
    EXPECT_EQ(restored_guest->domid(), 3);
    ASSERT_EQ(restored_guest->watches().size(), 1u);
    EXPECT_TRUE(restored_guest->watches().all()[0].relative);
    ASSERT_NE(store_->domain(3), nullptr);
    EXPECT_EQ(store_->domain(3)->event_port, 9u);
    EXPECT_EQ(perms(*restored, "@releaseDomain"), nul("n0") + nul("r3"));
    EXPECT_EQ(store_->encode_state(), before);  // everything, down to the generations

    // The restored watch fires as before; new ids do not collide with restored ones.
    request(*restored, XS_WRITE, nul("/a/c") + "1");
    EXPECT_EQ(store_->take_events(*restored).size(), 1u);
    EXPECT_GT(store_->connect({0, true}).id(), guest_id);
}

TEST_F(JournalTest, ConnectionsNoTransportAdoptsAreDropped) {
    Connection& kept = store_->connect({0, true});
    Connection& lost = store_->connect({0, true});
    ConnectionId kept_id = kept.id(), lost_id = lost.id();
    request(lost, XS_WATCH, nul("/a") + nul("t"));
    journal_->commit();
    open_store();
    ASSERT_NE(store_->adopt(kept_id), nullptr);
    EXPECT_EQ(store_->drop_unclaimed(), std::vector<ConnectionId>{lost_id});
    journal_->commit();
    open_store();
    EXPECT_NE(store_->adopt(kept_id), nullptr);
    EXPECT_EQ(store_->adopt(lost_id), nullptr);
}

TEST_F(JournalTest, TransactionsOpenAtTheCrashAreAbortedWithEagain) {
    Connection& c = store_->connect({0, true});
    ConnectionId id = c.id();
    Message started = request(c, XS_TRANSACTION_START, nul(""));
    auto tx = std::uint32_t(std::stoul(started.payload));
    request(c, XS_WRITE, nul("/t/a") + "1", tx);  // inside: not in the tree
    open_store();
    Connection* restored = store_->adopt(id);
    ASSERT_NE(restored, nullptr);
    Message commit = store_->handle(*restored, Message{XS_TRANSACTION_END, 1, tx, nul("T")});
    EXPECT_EQ(commit.type, XS_ERROR);
    EXPECT_EQ(commit.payload, nul("EAGAIN"));
    EXPECT_EQ(read(*restored, "/t/a").substr(0, 7), "<ENOENT");
    // The retry gets a fresh transaction id, not one of the aborted ones.
    Message again = store_->handle(*restored, Message{XS_TRANSACTION_START, 1, 0, nul("")});
    EXPECT_GT(std::stoul(again.payload), tx);
}

TEST_F(JournalTest, ATornLastRecordIsIgnoredAndCutOff) {
    Connection& c = store_->connect({0, true});
    ConnectionId id = c.id();
    request(c, XS_WRITE, nul("/whole") + "1");
    request(c, XS_WRITE, nul("/torn") + "2");
    std::string path = dir_ + "/journal";
    auto size = std::filesystem::file_size(path);
    // The daemon died inside the last write(): only a prefix of it reached the file.
    std::filesystem::resize_file(path, size - 5);
    open_store();
    EXPECT_EQ(read(*store_->adopt(id), "/whole"), "1");
    EXPECT_EQ(read(*store_->adopt(id), "/torn").substr(0, 7), "<ENOENT");
    // Appends continue after the last whole record.
    request(*store_->adopt(id), XS_WRITE, nul("/after") + "3");
    open_store();
    EXPECT_EQ(read(*store_->adopt(id), "/after"), "3");
    EXPECT_EQ(read(*store_->adopt(id), "/whole"), "1");
}

TEST_F(JournalTest, ARecordWithABadChecksumEndsTheReplay) {
    Connection& c = store_->connect({0, true});
    ConnectionId id = c.id();
    request(c, XS_WRITE, nul("/first") + "1");
    request(c, XS_WRITE, nul("/second") + "2");
    std::string path = dir_ + "/journal";
    int fd = ::open(path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    auto size = std::filesystem::file_size(path);
    ASSERT_EQ(::pwrite(fd, "X", 1, off_t(size - 2)), 1);  // inside the last payload
    ::close(fd);
    open_store();
    EXPECT_EQ(read(*store_->adopt(id), "/first"), "1");
    EXPECT_EQ(read(*store_->adopt(id), "/second").substr(0, 7), "<ENOENT");
}

TEST_F(JournalTest, AWholeButMalformedRecordEndsTheReplayAndTheStoreStillStarts) {
    Connection& c = store_->connect({0, true});
    ConnectionId id = c.id();
    request(c, XS_WRITE, nul("/good") + "1");
    ASSERT_TRUE(journal_->journal().append("\xff not an entry"));  // checksum fine, content not
    open_store();                                                  // serves what came before
    Connection* restored = store_->adopt(id);
    ASSERT_NE(restored, nullptr);
    EXPECT_EQ(read(*restored, "/good"), "1");
    request(*restored, XS_WRITE, nul("/later") + "2");
    open_store();  // later records are not hidden behind the bad one
    EXPECT_EQ(read(*store_->adopt(id), "/later"), "2");
}

class CompactionCrashTest : public JournalTest,
                            public ::testing::WithParamInterface<Journal::Step> {};

TEST_P(CompactionCrashTest, ACrashAtAnyStepReplaysTheSameState) {
    Connection& c = store_->connect({0, true});
    ConnectionId id = c.id();
    request(c, XS_WRITE, nul("/before") + "1");
    request(c, XS_WATCH, nul("/before") + nul("w"));
    request(c, XS_WRITE, nul("/overwritten") + "old");
    request(c, XS_WRITE, nul("/overwritten") + "new");
    request(c, XS_MKDIR, nul("/removed"));
    request(c, XS_RM, nul("/removed"));
    std::string state = store_->encode_state();
    journal_->journal().stop_after = GetParam();
    journal_->compact();  // "killed" after that step
    open_store();
    EXPECT_EQ(store_->encode_state(), state);
    // And the store goes on journaling from there, across another restart.
    request(*store_->adopt(id), XS_WRITE, nul("/after") + "2");
    journal_->compact();
    request(*store_->adopt(id), XS_WRITE, nul("/later") + "3");
    open_store();
    Connection* restored = store_->adopt(id);
    ASSERT_NE(restored, nullptr);
    EXPECT_EQ(read(*restored, "/before"), "1");
    EXPECT_EQ(read(*restored, "/overwritten"), "new");
    EXPECT_EQ(read(*restored, "/removed").substr(0, 7), "<ENOENT");
    EXPECT_EQ(read(*restored, "/after"), "2");
    EXPECT_EQ(read(*restored, "/later"), "3");
    EXPECT_EQ(restored->watches().size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Steps, CompactionCrashTest,
                         ::testing::Values(Journal::Step::SnapshotWritten, Journal::Step::Renamed,
                                           Journal::Step::Truncated, Journal::Step::None));

TEST_F(JournalTest, ReplayingARecordTwiceChangesNothing) {
    // Every entry is absolute: the property compaction's crash safety rests on.
    Connection& c = store_->connect({0, true});
    request(c, XS_WRITE, nul("/a") + "1");
    request(c, XS_WATCH, nul("/a") + nul("t"));
    store_->track_changes(false);
    std::string all = store_->encode_state();
    Store twice;
    ASSERT_TRUE(twice.apply_state(all));
    ASSERT_TRUE(twice.apply_state(all));
    EXPECT_EQ(twice.encode_state(), all);
}

TEST_F(JournalTest, ACleanStopLeavesNoState) {
    Connection& c = store_->connect({0, true});
    request(c, XS_WRITE, nul("/a") + "1");
    journal_->discard();
    open_store();
    EXPECT_EQ(store_->tree().size(), 1u);  // just "/"
}

TEST(Crc32cTest, MatchesTheStandardCheckValue) {
    EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
    EXPECT_EQ(crc32c(""), 0u);
    // Lengths around the 8-byte steps of the SSE path agree with the table.
    std::string text = "the quick brown fox jumps over the lazy dog";
    EXPECT_EQ(crc32c(text), 0x3C18F4D6u);
}

}  // namespace
}  // namespace domus::store
