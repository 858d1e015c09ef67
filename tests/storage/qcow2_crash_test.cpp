// Crash consistency: a child process writes and discards with periodic flush() and
// reports each completed operation and flush through a pipe; the parent kills it with
// SIGKILL at a random moment. Then `qemu-img check` must accept the image (exit 0, or 3
// for leaks only) and everything acknowledged before the last completed flush reads back.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "qcow2_checker.hpp"
#include "storage/image_create.hpp"
#include "storage/qcow2_image.hpp"
#include "test_files.hpp"

namespace domus::storage {
namespace {

constexpr std::uint64_t kSize = 32 << 20;
constexpr int kMaxOps = 200000;

struct Op {
    bool discard;
    std::uint64_t offset, length;
    bool flush_after;
};

// The same seed gives the same sequence in the child and in the parent.
class OpStream {
public:
    explicit OpStream(std::uint32_t seed) : rng_(seed) {}
    Op next() {
        Op op{};
        op.discard = rng_() % 10 == 0;
        op.length = (1 + rng_() % 256) * 512;
        op.offset = rng_() % ((kSize - op.length) / 512) * 512;
        op.flush_after = rng_() % 8 == 0;
        return op;
    }

private:
    std::mt19937_64 rng_;
};

struct Message {
    char kind;  // 'D' operation done, 'F' flush done
    std::uint64_t ops;
};

[[noreturn]] void child(const std::string& path, std::uint32_t seed, int pipe_fd) {
    auto image = Qcow2Image::open(path, Qcow2Options{false, 64 << 10});
    if (!image) _exit(2);
    OpStream ops(seed);
    std::vector<std::byte> buffer;
    for (int i = 0; i < kMaxOps; ++i) {
        Op op = ops.next();
        if (op.discard) {
            if (!(*image)->discard(op.offset, op.length)) _exit(3);
        } else {
            buffer.resize(op.length);
            testing::fill_pattern(buffer, op.offset, static_cast<std::uint32_t>(i));
            if (!(*image)->write(op.offset, buffer)) _exit(4);
        }
        Message done{'D', static_cast<std::uint64_t>(i + 1)};
        if (::write(pipe_fd, &done, sizeof done) != sizeof done) _exit(5);
        if (op.flush_after) {
            if (!(*image)->flush()) _exit(6);
            Message flushed{'F', static_cast<std::uint64_t>(i + 1)};
            if (::write(pipe_fd, &flushed, sizeof flushed) != sizeof flushed) _exit(5);
        }
    }
    _exit(0);
}

class Qcow2Crash : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(Qcow2Crash, KillNineLeavesConsistentImage) {
    if (!testing::have_program("qemu-img")) GTEST_SKIP() << "skipped: qemu-img not installed";
    const std::uint32_t seed = GetParam();
    testing::TempDir dir;
    auto path = dir.file("crash.qcow2");
    std::uint64_t cluster_size = seed % 2 ? 512 : 65536;
    ASSERT_TRUE(create_image(path, kSize, Format::qcow2, std::nullopt, cluster_size));

    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::close(fds[0]);
        child(path, seed, fds[1]);
    }
    ::close(fds[1]);
    std::mt19937 timing(seed * 7919);
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(30 + timing() % 400);
    std::uint64_t last_done = 0, last_flush = 0;
    auto drain = [&](int timeout_ms) {
        pollfd p{fds[0], POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) <= 0) return false;
        Message m;
        ssize_t n = ::read(fds[0], &m, sizeof m);
        if (n != sizeof m) return false;
        if (m.kind == 'D') last_done = m.ops;
        if (m.kind == 'F') last_flush = m.ops;
        return true;
    };
    while (std::chrono::steady_clock::now() < deadline)
        drain(5);
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    while (drain(0)) {
    }
    ::close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with status " << WEXITSTATUS(status);
    std::printf("seed %u: cluster %llu, %llu ops done, last flush after %llu\n", seed,
                static_cast<unsigned long long>(cluster_size),
                static_cast<unsigned long long>(last_done),
                static_cast<unsigned long long>(last_flush));

    std::string output;
    int check = testing::run_command("qemu-img check " + path, &output);
    EXPECT_TRUE(check == 0 || check == 3) << "qemu-img check exit " << check << "\n" << output;
    auto report = testing::check_qcow2(path);
    EXPECT_TRUE(report.errors.empty()) << report.summary();

    // Model: operations before the last flush; bytes touched later (including the one
    // that may have been in progress) may hold either version and are not compared.
    std::vector<std::byte> model(kSize);
    std::vector<bool> unsure(kSize);
    OpStream ops(seed);
    std::vector<std::byte> buffer;
    for (std::uint64_t i = 0; i <= last_done && i < static_cast<std::uint64_t>(kMaxOps); ++i) {
        Op op = ops.next();
        if (i < last_flush) {
            if (op.discard) {
                std::fill_n(model.begin() + static_cast<long>(op.offset), op.length, std::byte{0});
            } else {
                buffer.resize(op.length);
                testing::fill_pattern(buffer, op.offset, static_cast<std::uint32_t>(i));
                std::copy(buffer.begin(), buffer.end(),
                          model.begin() + static_cast<long>(op.offset));
            }
        } else {
            std::fill_n(unsure.begin() + static_cast<long>(op.offset), op.length, true);
        }
    }
    auto image = open_image(path, Format::qcow2, true);
    ASSERT_TRUE(image) << image.error().message;
    std::vector<std::byte> back(kSize);
    ASSERT_TRUE((*image)->read(0, back));
    std::uint64_t mismatches = 0, first = 0;
    for (std::uint64_t i = 0; i < kSize; ++i)
        if (!unsure[i] && back[i] != model[i] && mismatches++ == 0) first = i;
    EXPECT_EQ(mismatches, 0u) << "first at " << first;

    // The image stays usable: reopen for writing, write, and check again.
    image->reset();
    {
        auto again = open_image(path, Format::qcow2, false);
        ASSERT_TRUE(again) << again.error().message;
        ASSERT_TRUE((*again)->write(0, testing::pattern(0, 65536, 1)));
    }
    check = testing::run_command("qemu-img check " + path, &output);
    EXPECT_TRUE(check == 0 || check == 3) << output;
}

INSTANTIATE_TEST_SUITE_P(Seeds, Qcow2Crash, ::testing::Range(1u, 11u));

}  // namespace
}  // namespace domus::storage
