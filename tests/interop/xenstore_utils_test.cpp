// Debian 12's xenstore-utils (libxenstore 4.17) against domus-xenstored's tool
// socket: outputs and exit codes of each tool, watches, and the daemon's lifecycle.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "xenstore_tools.hpp"
#include "xenstore_watch.hpp"

namespace domus::test {
namespace {

using namespace std::chrono_literals;

class XenstoreUtils : public ::testing::Test {
protected:
    void SetUp() override {
        DOMUS_REQUIRE_XENSTORE_UTILS();
        ASSERT_TRUE(daemon_.running()) << daemon_.log();
    }
    XenstoredProcess daemon_{DOMUS_XENSTORED_BIN};
    XenstoreTools tools_{daemon_};
};

TEST_F(XenstoreUtils, WriteThenRead) {
    auto write = tools_.run("write", {"/vm/name", "guest one"});
    EXPECT_EQ(write.status, 0) << write.err;
    auto read = tools_.run("read", {"/vm/name"});
    EXPECT_EQ(read.status, 0) << read.err;
    EXPECT_EQ(read.out, "guest one\n");
}

TEST_F(XenstoreUtils, SeveralPairsGoThroughOneTransaction) {
    auto write = tools_.run("write", {"/t/a", "1", "/t/b", "2"});
    EXPECT_EQ(write.status, 0) << write.err;
    auto read = tools_.run("read", {"/t/a", "/t/b"});
    EXPECT_EQ(read.status, 0) << read.err;
    EXPECT_EQ(read.out, "1\n2\n");
}

TEST_F(XenstoreUtils, ReadingAMissingNodeFails) {
    auto read = tools_.run("read", {"/absent"});
    EXPECT_EQ(read.status, 1);
    EXPECT_NE(read.err.find("couldn't read path /absent"), std::string::npos) << read.err;
}

TEST_F(XenstoreUtils, ListAndLs) {
    ASSERT_EQ(tools_.run("write", {"/d/x", "1", "/d/y", "2", "/d/y/z", "3"}).status, 0);
    auto list = tools_.run("list", {"/d"});
    EXPECT_EQ(list.status, 0) << list.err;
    EXPECT_EQ(list.out, "x\ny\n");
    auto ls = tools_.run("ls", {"/d"});
    EXPECT_EQ(ls.status, 0) << ls.err;
    EXPECT_EQ(ls.out, "x = \"1\"\ny = \"2\"\n z = \"3\"\n");
    auto root = tools_.run("ls", {"/"});
    EXPECT_EQ(root.status, 0) << root.err;
    EXPECT_NE(root.out.find("d = \"\"\n x = \"1\"\n"), std::string::npos) << root.out;
}

TEST_F(XenstoreUtils, Exists) {
    ASSERT_EQ(tools_.run("write", {"/e", "v"}).status, 0);
    EXPECT_EQ(tools_.run("exists", {"/e"}).status, 0);
    EXPECT_EQ(tools_.run("exists", {"/not/there"}).status, 1);
}

TEST_F(XenstoreUtils, Rm) {
    ASSERT_EQ(tools_.run("write", {"/r/a/b", "v", "/r/keep", "k"}).status, 0);
    auto rm = tools_.run("rm", {"/r/a"});
    EXPECT_EQ(rm.status, 0) << rm.err;
    EXPECT_EQ(tools_.run("exists", {"/r/a/b"}).status, 1);
    EXPECT_EQ(tools_.run("list", {"/r"}).out, "keep\n");
}

TEST_F(XenstoreUtils, ChmodShowsInLsPermissions) {
    ASSERT_EQ(tools_.run("write", {"/p", "v"}).status, 0);
    auto chmod = tools_.run("chmod", {"/p", "n0", "r5", "b7"});
    EXPECT_EQ(chmod.status, 0) << chmod.err;
    auto ls = tools_.run("ls", {"-p", "/"});
    EXPECT_EQ(ls.status, 0) << ls.err;
    EXPECT_NE(ls.out.find("(n0,r5,b7)"), std::string::npos) << ls.out;
}

TEST_F(XenstoreUtils, WatchFiresOnAWriteFromAnotherTool) {
    ASSERT_EQ(tools_.run("write", {"/w", ""}).status, 0);
    XenstoreWatch watch(daemon_, {"-n", "2", "/w"});
    // Every new watch fires once at once: from then on, it is registered.
    ASSERT_EQ(watch.next_line(), "/w");
    ASSERT_EQ(tools_.run("write", {"/w/k", "v"}).status, 0);
    EXPECT_EQ(watch.next_line(), "/w/k");
    EXPECT_EQ(watch.exit_status(), 0);
}

TEST_F(XenstoreUtils, WatchIgnoresChangesOutsideItsPath) {
    XenstoreWatch watch(daemon_, {"-n", "2", "/quiet"});
    ASSERT_EQ(watch.next_line(), "/quiet");
    ASSERT_EQ(tools_.run("write", {"/quieter", "no", "/elsewhere/quiet", "no"}).status, 0);
    ASSERT_EQ(tools_.run("write", {"/quiet/k", "yes"}).status, 0);
    // The store is one ordered stream: had the first writes fired, we would see it here.
    EXPECT_EQ(watch.next_line(), "/quiet/k");
    EXPECT_EQ(watch.exit_status(), 0);
}

TEST(XenstoredDaemon, RefusesASecondInstanceForTheSameRunDir) {
    XenstoredProcess first(DOMUS_XENSTORED_BIN);
    ASSERT_TRUE(first.running()) << first.log();
    auto second = run_process({DOMUS_XENSTORED_BIN, "--run-dir", first.run_dir()}, 5s);
    EXPECT_EQ(second.status, 1);
    EXPECT_NE(second.err.find("another domus-xenstored"), std::string::npos) << second.err;
    EXPECT_TRUE(connect_unix(first.tool_socket(), SOCK_STREAM));  // still serving
}

TEST(XenstoredDaemon, SocketsAreOwnerOnlyAndRemovedOnSigterm) {
    XenstoredProcess daemon(DOMUS_XENSTORED_BIN);
    ASSERT_TRUE(daemon.running()) << daemon.log();
    struct stat info;
    ASSERT_EQ(::stat((daemon.run_dir() + "/xenstored").c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0700u);
    for (const auto& path : {daemon.tool_socket(), daemon.domain_socket()}) {
        ASSERT_EQ(::stat(path.c_str(), &info), 0) << path;
        EXPECT_TRUE(S_ISSOCK(info.st_mode));
        EXPECT_EQ(info.st_mode & 0777, 0600u) << path;
    }
    EXPECT_EQ(daemon.stop(), 0);
    EXPECT_FALSE(std::filesystem::exists(daemon.tool_socket()));
    EXPECT_FALSE(std::filesystem::exists(daemon.domain_socket()));
}

TEST(XenstoredDaemon, ReplacesAStaleSocketFile) {
    XenstoredProcess first(DOMUS_XENSTORED_BIN);
    ASSERT_TRUE(first.running()) << first.log();
    ASSERT_EQ(first.stop(), 0);
    std::ofstream(first.tool_socket()) << "stale";  // as after a crash
    XenstoredProcess restarted(DOMUS_XENSTORED_BIN, first.run_dir());
    ASSERT_TRUE(restarted.running()) << restarted.log();
    EXPECT_TRUE(connect_unix(restarted.tool_socket(), SOCK_STREAM));
}

}  // namespace
}  // namespace domus::test
