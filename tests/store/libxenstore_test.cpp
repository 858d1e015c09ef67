// The store through Xen's own client library: libxenstore (Debian's libxen-dev), the code
// xl, libxl and QEMU use, against a real domus-xenstored over its socket. Transactions,
// watches and connections behave as C xenstored's do (docs/store-semantics.md).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include <xenstore.h>
}

extern char** environ;

namespace {

// One libxenstore connection.
struct HandleClose {
    void operator()(xs_handle* h) const { xs_close(h); }
};
using Handle = std::unique_ptr<xs_handle, HandleClose>;

// A value read with xs_read (nullopt: the call failed, errno says why).
std::optional<std::string> read(xs_handle* h, xs_transaction_t t, const std::string& path) {
    unsigned int length = 0;
    void* value = xs_read(h, t, path.c_str(), &length);
    if (!value) return std::nullopt;
    std::string out(static_cast<char*>(value), length);
    std::free(value);
    return out;
}

bool write(xs_handle* h, xs_transaction_t t, const std::string& path, const std::string& value) {
    return xs_write(h, t, path.c_str(), value.data(), unsigned(value.size()));
}

std::set<std::string> directory(xs_handle* h, xs_transaction_t t, const std::string& path) {
    unsigned int count = 0;
    char** names = xs_directory(h, t, path.c_str(), &count);
    std::set<std::string> out;
    for (unsigned i = 0; i < count; ++i)
        out.insert(names[i]);
    std::free(names);
    return out;
}

// The watch events that arrive within `wait` (each as its path), in order.
std::vector<std::string> events(xs_handle* h, std::chrono::milliseconds wait) {
    std::vector<std::string> out;
    auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
        while (char** event = xs_check_watch(h)) {
            out.push_back(event[XS_WATCH_PATH]);
            std::free(event);
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return out;
        pollfd fd{xs_fileno(h), POLLIN, 0};
        ::poll(&fd, 1, int(left.count()));
    }
}

class LibxenstoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        char pattern[] = "/tmp/domus-libxs-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern), nullptr);
        dir_ = pattern;
        std::string run_dir = dir_ + "/run";
        std::vector<std::string> args = {DOMUS_XENSTORED, "--run-dir", run_dir};
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        ASSERT_EQ(::posix_spawn(&daemon_, argv[0], nullptr, nullptr, argv.data(), environ), 0);
        ::setenv("XENSTORED_PATH", (run_dir + "/xenstored/socket").c_str(), 1);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!a_ && std::chrono::steady_clock::now() < deadline) {
            a_.reset(xs_open(0));
            if (!a_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ASSERT_TRUE(a_) << "xs_open: no store at " << run_dir;
        b_.reset(xs_open(0));
        ASSERT_TRUE(b_);
    }
    void TearDown() override {
        a_.reset();
        b_.reset();
        if (daemon_ > 0) {
            ::kill(daemon_, SIGKILL);
            ::waitpid(daemon_, nullptr, 0);
        }
        std::filesystem::remove_all(dir_);
    }

    std::string dir_;
    pid_t daemon_ = -1;
    Handle a_, b_;  // two tool connections
};

TEST_F(LibxenstoreTest, ATransactionKeepsTheValueItFirstReadAndItsCommitThenFails) {
    ASSERT_TRUE(write(a_.get(), XBT_NULL, "/t/a", "1"));
    xs_transaction_t t = xs_transaction_start(a_.get());
    ASSERT_NE(t, XBT_NULL);
    EXPECT_EQ(read(a_.get(), t, "/t/a"), "1");
    ASSERT_TRUE(write(b_.get(), XBT_NULL, "/t/a", "2"));  // after the transaction's read
    EXPECT_EQ(read(a_.get(), t, "/t/a"), "1") << "the transaction's view changed under it";
    EXPECT_EQ(read(a_.get(), XBT_NULL, "/t/a"), "2");
    ASSERT_TRUE(write(a_.get(), t, "/t/b", "x"));
    EXPECT_FALSE(xs_transaction_end(a_.get(), t, false));
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_EQ(read(a_.get(), XBT_NULL, "/t/b"), std::nullopt) << "a failed commit wrote";
}

TEST_F(LibxenstoreTest, ATransactionSeesItsOwnWritesAndOthersSeeThemAtCommit) {
    xs_transaction_t t = xs_transaction_start(a_.get());
    ASSERT_NE(t, XBT_NULL);
    ASSERT_TRUE(write(a_.get(), t, "/own/new", "v"));
    EXPECT_EQ(read(a_.get(), t, "/own/new"), "v");
    EXPECT_EQ(directory(a_.get(), t, "/own"), std::set<std::string>{"new"});
    EXPECT_EQ(read(b_.get(), XBT_NULL, "/own/new"), std::nullopt);
    EXPECT_EQ(errno, ENOENT);
    ASSERT_TRUE(xs_transaction_end(a_.get(), t, false));
    EXPECT_EQ(read(b_.get(), XBT_NULL, "/own/new"), "v");
}

TEST_F(LibxenstoreTest, PermissionsInsideATransactionAreItsOwn) {
    ASSERT_TRUE(write(a_.get(), XBT_NULL, "/perm/node", "v"));
    xs_transaction_t t = xs_transaction_start(a_.get());
    ASSERT_NE(t, XBT_NULL);
    xs_permissions perms[2] = {{5, XS_PERM_NONE}, {7, XS_PERM_READ}};
    ASSERT_TRUE(xs_set_permissions(a_.get(), t, "/perm/node", perms, 2));
    unsigned int count = 0;
    xs_permissions* seen = xs_get_permissions(a_.get(), t, "/perm/node", &count);
    ASSERT_NE(seen, nullptr);
    ASSERT_EQ(count, 2u);
    EXPECT_EQ(seen[0].id, 5u);
    EXPECT_EQ(seen[1].id, 7u);
    EXPECT_EQ(seen[1].perms, XS_PERM_READ);
    std::free(seen);
    seen = xs_get_permissions(b_.get(), XBT_NULL, "/perm/node", &count);  // not yet
    ASSERT_NE(seen, nullptr);
    EXPECT_EQ(seen[0].id, 0u);
    std::free(seen);
    ASSERT_TRUE(xs_transaction_end(a_.get(), t, false));
    seen = xs_get_permissions(b_.get(), XBT_NULL, "/perm/node", &count);
    ASSERT_NE(seen, nullptr);
    EXPECT_EQ(seen[0].id, 5u);
    std::free(seen);
}

TEST_F(LibxenstoreTest, WatchesFireAtCommitOnceForEachChangedNodeAndNotOnAbort) {
    ASSERT_TRUE(xs_watch(b_.get(), "/w", "tok"));
    EXPECT_EQ(events(b_.get(), std::chrono::milliseconds(200)),
              std::vector<std::string>{"/w"});  // the event every new watch gets

    xs_transaction_t aborted = xs_transaction_start(a_.get());
    ASSERT_TRUE(write(a_.get(), aborted, "/w/gone", "1"));
    ASSERT_TRUE(xs_transaction_end(a_.get(), aborted, true));
    EXPECT_TRUE(events(b_.get(), std::chrono::milliseconds(200)).empty());

    xs_transaction_t t = xs_transaction_start(a_.get());
    ASSERT_TRUE(write(a_.get(), t, "/w/x", "1"));
    ASSERT_TRUE(write(a_.get(), t, "/w/y", "1"));
    ASSERT_TRUE(write(a_.get(), t, "/w/x", "2"));  // twice in the transaction
    EXPECT_TRUE(events(b_.get(), std::chrono::milliseconds(200)).empty()) << "before commit";
    ASSERT_TRUE(xs_transaction_end(a_.get(), t, false));
    auto fired = events(b_.get(), std::chrono::milliseconds(300));
    std::multiset<std::string> got(fired.begin(), fired.end());
    EXPECT_EQ(got, (std::multiset<std::string>{"/w/x", "/w/y"}));
}

TEST_F(LibxenstoreTest, AClosedConnectionsTransactionsAreDiscarded) {
    xs_transaction_t t = xs_transaction_start(a_.get());
    ASSERT_NE(t, XBT_NULL);
    ASSERT_TRUE(write(a_.get(), t, "/closed/node", "v"));
    a_.reset();  // closes the connection with the transaction open
    EXPECT_EQ(read(b_.get(), XBT_NULL, "/closed/node"), std::nullopt);
    // The store serves the next connection as before.
    a_.reset(xs_open(0));
    ASSERT_TRUE(a_);
    EXPECT_TRUE(write(a_.get(), XBT_NULL, "/closed/node", "w"));
    EXPECT_EQ(read(b_.get(), XBT_NULL, "/closed/node"), "w");
}

TEST_F(LibxenstoreTest, RemovingAReadNodeConflictsAndAnUntouchedOneDoesNot) {
    ASSERT_TRUE(write(a_.get(), XBT_NULL, "/c/read", "1"));
    ASSERT_TRUE(write(a_.get(), XBT_NULL, "/c/other", "1"));
    xs_transaction_t t = xs_transaction_start(a_.get());
    EXPECT_EQ(read(a_.get(), t, "/c/read"), "1");
    ASSERT_TRUE(write(b_.get(), XBT_NULL, "/c/other", "2"));  // not accessed by t
    ASSERT_TRUE(write(a_.get(), t, "/c/mine", "1"));
    EXPECT_TRUE(xs_transaction_end(a_.get(), t, false)) << "an unrelated change conflicted";

    t = xs_transaction_start(a_.get());
    EXPECT_EQ(read(a_.get(), t, "/c/read"), "1");
    ASSERT_TRUE(xs_rm(b_.get(), XBT_NULL, "/c/read"));
    ASSERT_TRUE(write(a_.get(), t, "/c/mine", "2"));
    EXPECT_FALSE(xs_transaction_end(a_.get(), t, false));
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_EQ(read(a_.get(), XBT_NULL, "/c/mine"), "1");
}

}  // namespace
