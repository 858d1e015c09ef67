// The host's own file I/O: the baseline every block figure is a ratio to. One thread
// reads or writes `bytes` of `path` in `block`-sized calls; `buffers` rotate (as the
// guest's requests in flight each have their own buffer). Random runs last 2 s.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "base/fd.hpp"

namespace domus::bench {

// MiB/s (sequential) or operations per second (random).
inline double host_io(const std::string& path, bool write, bool random, std::size_t block,
                      std::uint64_t bytes, std::size_t buffers = 1) {
    Fd fd(::open(path.c_str(), (write ? O_RDWR : O_RDONLY) | O_CLOEXEC));
    std::vector<char> buffer(block * buffers, 'x');
    std::mt19937_64 rng(1);
    std::uint64_t blocks = bytes / block, done = 0;
    auto t0 = std::chrono::steady_clock::now();
    auto deadline = t0 + std::chrono::seconds(2);
    for (std::uint64_t i = 0; random ? std::chrono::steady_clock::now() < deadline : i < blocks;
         ++i) {
        off_t offset = off_t((random ? rng() % blocks : i % blocks) * block);
        char* data = buffer.data() + (i % buffers) * block;
        ssize_t n = write ? ::pwrite(fd.get(), data, block, offset)
                          : ::pread(fd.get(), data, block, offset);
        if (n != ssize_t(block)) break;
        ++done;
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Not timed: the guest benchmarks leave their final flush out of the figure too.
    if (write) ::fdatasync(fd.get());
    return random ? double(done) / seconds : double(done * block) / (1024.0 * 1024.0) / seconds;
}

}  // namespace domus::bench
