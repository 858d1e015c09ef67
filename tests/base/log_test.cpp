// Tests for base/log: line format and level filtering, escaping of guest-supplied text,
// and the RateLimit that keeps a hostile guest from flooding the log.
#include "base/log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace domus::log {
namespace {

// Runs `fn` with stderr redirected to a temporary file and returns what it wrote.
std::string capture_stderr(const std::function<void()>& fn) {
    std::FILE* tmp = std::tmpfile();
    EXPECT_NE(tmp, nullptr);
    int saved = ::dup(STDERR_FILENO);
    ::dup2(::fileno(tmp), STDERR_FILENO);
    fn();
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    std::string out;
    std::rewind(tmp);
    for (int c; (c = std::fgetc(tmp)) != EOF;)
        out.push_back(char(c));
    std::fclose(tmp);
    return out;
}

// Restores the process-wide configuration a test changed.
class LogTest : public ::testing::Test {
protected:
    void TearDown() override {
        Config::instance().level = Level::info;
        Config::instance().domain_id = -1;
    }
};

std::int64_t steady_second() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Runs `fn` until one run starts and ends in the same one-second window (RateLimit's
// unit), so that a window change in the middle cannot make the result ambiguous.
template <class F>
auto within_one_second(F fn) {
    for (;;) {
        std::int64_t before = steady_second();
        auto result = fn();
        if (steady_second() == before) return result;
    }
}

TEST_F(LogTest, WriteFormatsComponentAndLevel) {
    EXPECT_EQ(capture_stderr([] { write(Level::warn, "vmm", "bad gref 912"); }),
              "vmm: warn: bad gref 912\n");
}

TEST_F(LogTest, WriteIncludesTheDomainOnceSet) {
    Config::instance().domain_id = 7;
    EXPECT_EQ(capture_stderr([] { write(Level::error, "blk0", "ring overflow"); }),
              "blk0[dom7] error: ring overflow\n");
}

TEST_F(LogTest, EmitDropsLinesBelowTheLevel) {
    Config::instance().level = Level::warn;
    std::string out = capture_stderr([] {
        DOMUS_LOG_DEBUG("c", "debug {}", 1);
        DOMUS_LOG_INFO("c", "info {}", 2);
        DOMUS_LOG_WARN("c", "warn {}", 3);
        DOMUS_LOG_ERROR("c", "error {}", 4);
    });
    EXPECT_EQ(out, "c: warn: warn 3\nc: error: error 4\n");
}

TEST(Escape, KeepsPrintableText) {
    EXPECT_EQ(escape(""), "");
    EXPECT_EQ(escape("hello, world! ~{}[]"), "hello, world! ~{}[]");
}

TEST(Escape, HexEncodesControlAndHighBytes) {
    EXPECT_EQ(escape(std::string_view("a\0b", 3)), "a\\x00b");
    EXPECT_EQ(escape("\x01\x1f"), "\\x01\\x1f");
    EXPECT_EQ(escape("\x7f"), "\\x7f");
    EXPECT_EQ(escape("\x80\xff"), "\\x80\\xff");
    EXPECT_EQ(escape("\r"), "\\x0d");
    EXPECT_EQ(escape("\x1b[2J"), "\\x1b[2J");  // terminal escape sequences are defused
}

TEST(Escape, OutputIsAlwaysPrintable) {
    std::string all;
    for (int c = 0; c < 256; ++c)
        all.push_back(char(c));
    for (unsigned char c : escape(all)) {
        EXPECT_TRUE((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t') << int(c);
    }
}

// BUG (src/base/log.cpp:53, escape()): '\n' passes through unescaped, so a guest string
// can end the current log line and forge a new one that looks like the monitor's own
// ("vmm[dom0] error: ..."). The header promises that non-printable bytes become \xNN.
// Fix: drop the `c == '\n' ||` (and '\t') exception in escape().
TEST(Escape, NewlineCannotForgeALogLine) {
    std::string escaped = escape("ok\nvmm[dom0] error: forged");
    EXPECT_EQ(escaped.find('\n'), std::string::npos) << escaped;
}

TEST(RateLimit, AllowsTheBurstThenSuppresses) {
    auto [allowed, suppressed] = within_one_second([] {
        RateLimit limit(3);
        int allowed = 0;
        for (int i = 0; i < 10; ++i)
            allowed += limit.allow();
        return std::pair{allowed, limit.suppressed()};
    });
    EXPECT_EQ(allowed, 3);
    EXPECT_EQ(suppressed, 7u);
}

TEST(RateLimit, ZeroBurstAllowsNothing) {
    RateLimit limit(0);
    for (int i = 0; i < 5; ++i)
        EXPECT_FALSE(limit.allow());
    EXPECT_EQ(limit.suppressed(), 5u);
}

TEST(RateLimit, RefillsInTheNextSecond) {
    RateLimit limit(2);
    while (limit.allow()) {
    }
    std::int64_t exhausted_in = steady_second();
    while (steady_second() == exhausted_in)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_TRUE(limit.allow());
    EXPECT_GE(limit.suppressed(), 1u);  // suppressed counts are never reset
}

TEST(RateLimit, BurstHoldsAcrossThreads) {
    auto [allowed, suppressed] = within_one_second([] {
        RateLimit limit(50);
        limit.allow();  // opens the window, so threads do not race to open it
        std::atomic<int> count{1};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&] {
                for (int i = 0; i < 1000; ++i)
                    count += limit.allow();
            });
        }
        for (auto& thread : threads)
            thread.join();
        return std::pair{count.load(), limit.suppressed()};
    });
    EXPECT_EQ(allowed, 50);
    EXPECT_EQ(suppressed, 4000u + 1 - 50);
}

}  // namespace
}  // namespace domus::log
