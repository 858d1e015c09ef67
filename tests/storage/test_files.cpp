// Test helpers: temporary directories, patterns, commands.
#include "test_files.hpp"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace domus::storage::testing {

TempDir::TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base && *base ? base : "/var/tmp") + "/domus-storage-XXXXXX";
    if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

void fill_pattern(std::span<std::byte> out, std::uint64_t offset, std::uint32_t seed) {
    for (std::size_t i = 0; i < out.size(); ++i) {
        std::uint64_t x = (offset + i) / 8 * 0x9e3779b97f4a7c15ull + seed * 0xbf58476d1ce4e5b9ull;
        x ^= x >> 29;
        out[i] = std::byte(static_cast<std::uint8_t>((x >> (8 * ((offset + i) % 8))) | 1));
    }
}

std::vector<std::byte> pattern(std::uint64_t offset, std::size_t length, std::uint32_t seed) {
    std::vector<std::byte> out(length);
    fill_pattern(out, offset, seed);
    return out;
}

int run_command(const std::string& command, std::string* output) {
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (!pipe) return -1;
    std::string text;
    char buffer[4096];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe))
        text.append(buffer, n);
    int status = ::pclose(pipe);
    if (output) *output = text;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool have_program(const std::string& name) {
    return run_command("command -v " + name) == 0;
}

std::vector<std::byte> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> out(chars.size());
    for (std::size_t i = 0; i < chars.size(); ++i)
        out[i] = std::byte(chars[i]);
    return out;
}

void write_file(const std::string& path, std::span<const std::byte> data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
}

}  // namespace domus::storage::testing
