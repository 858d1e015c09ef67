// The host's own file I/O: the baseline every block figure is a ratio to. One thread
// reads or writes `bytes` of `path` in `block`-sized calls, `loops` times over (back at
// offset 0 each time, as blk_tool's loops=); `buffers` rotate (as the guest's requests in
// flight each have their own buffer). Random runs last 2 s. `direct`: O_DIRECT,
// bypassing the page cache (buffers page-aligned).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <span>
#include <string>

#include "base/fd.hpp"

namespace domus::bench {

// MiB/s (sequential) or operations per second (random).
// 0 when the file cannot be opened so (O_DIRECT on tmpfs).
inline double host_io(const std::string& path, bool write, bool random, std::size_t block,
                      std::uint64_t bytes, std::size_t buffers = 1, bool direct = false,
                      unsigned loops = 1) {
    Fd fd(::open(path.c_str(), (write ? O_RDWR : O_RDONLY) | O_CLOEXEC | (direct ? O_DIRECT : 0)));
    if (!fd) return 0;
    std::unique_ptr<char, decltype(&std::free)> memory(
        static_cast<char*>(std::aligned_alloc(4096, block * buffers)), &std::free);
    std::span<char> buffer(memory.get(), block * buffers);
    std::fill(buffer.begin(), buffer.end(), 'x');
    std::mt19937_64 rng(1);
    std::uint64_t blocks = bytes / block, done = 0;
    auto t0 = std::chrono::steady_clock::now();
    auto deadline = t0 + std::chrono::seconds(2);
    for (std::uint64_t i = 0;
         random ? std::chrono::steady_clock::now() < deadline : i < blocks * loops; ++i) {
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
