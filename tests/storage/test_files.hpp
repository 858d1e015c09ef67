// Test helpers for storage tests: a temporary directory, deterministic data patterns,
// and running qemu-img.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace domus::storage::testing {

// A fresh directory under $TMPDIR (or /var/tmp: tmpfs lacks some fallocate modes is
// fine, but /var/tmp is a real file system), removed with its contents on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

// Bytes that depend on the absolute disk offset and a seed, so misplaced data shows.
std::vector<std::byte> pattern(std::uint64_t offset, std::size_t length, std::uint32_t seed);
void fill_pattern(std::span<std::byte> out, std::uint64_t offset, std::uint32_t seed);

// Runs a shell command; returns its exit status and puts stdout+stderr in `output`.
int run_command(const std::string& command, std::string* output = nullptr);
bool have_program(const std::string& name);

std::vector<std::byte> read_file(const std::string& path);
void write_file(const std::string& path, std::span<const std::byte> data);

}  // namespace domus::storage::testing
