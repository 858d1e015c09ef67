// The CPUID cache file: one text line naming the host state it was made in and the
// number of entries, then the entries as KVM gave them.
#include "kvm/cpuid_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "base/durable_file.hpp"
#include "base/fd.hpp"
#include "kvm/kvm.hpp"

namespace domus::kvm {
namespace {

constexpr std::string_view kMagic = "domus-kvm-cpuid 1";
constexpr std::size_t kMaxFile = 4096 + kMaxCpuidEntries * sizeof(kvm_cpuid_entry2);

// A small procfs or sysfs file's first line, or "-" where there is none.
std::string first_line(const char* path) {
    Fd file(::open(path, O_RDONLY | O_CLOEXEC));
    if (!file) return "-";
    char text[128];
    ssize_t n = ::read(file.get(), text, sizeof text - 1);
    if (n <= 0) return "-";
    std::string_view line(text, std::size_t(n));
    return std::string(line.substr(0, line.find('\n')));
}

std::string inode_of(const char* path) {
    struct stat st {};
    return ::stat(path, &st) == 0 ? std::to_string(st.st_ino) : "-";
}

std::string read_small_file(int fd) {
    std::string content(kMaxFile + 1, '\0');
    std::size_t size = 0;
    while (size < content.size()) {
        ssize_t n = ::read(fd, content.data() + size, content.size() - size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        size += std::size_t(n);
    }
    content.resize(size);
    return content;
}

}  // namespace

std::string host_cpuid_identity() {
    // KVM built in has its module directories all the same, for the boot's whole life.
    return fmt::format("boot={} microcode={} kvm={} kvm_intel={} kvm_amd={} kvm_pvm={}",
                       first_line("/proc/sys/kernel/random/boot_id"),
                       first_line("/sys/devices/system/cpu/cpu0/microcode/version"),
                       inode_of("/sys/module/kvm"), inode_of("/sys/module/kvm_intel"),
                       inode_of("/sys/module/kvm_amd"), inode_of("/sys/module/kvm_pvm"));
}

std::optional<std::vector<kvm_cpuid_entry2>> load_cached_cpuid(const std::string& path,
                                                               const std::string& identity) {
    Fd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!file) return std::nullopt;
    // Trusted only as this user's own: the entries go into every guest's vCPUs.
    struct stat st {};
    if (::fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid() ||
        (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return std::nullopt;
    std::string content = read_small_file(file.get());
    std::size_t end = content.find('\n');
    if (end == std::string::npos || content.size() > kMaxFile) return std::nullopt;
    std::string_view header(content.data(), end);
    std::string expected_start = fmt::format("{} {} entries=", kMagic, identity);
    if (!header.starts_with(expected_start)) return std::nullopt;
    std::string_view digits = header.substr(expected_start.size());
    std::size_t count = 0;
    auto parsed = std::from_chars(digits.data(), digits.data() + digits.size(), count);
    if (parsed.ec != std::errc() || parsed.ptr != digits.data() + digits.size())
        return std::nullopt;
    std::size_t body = content.size() - end - 1;
    if (count == 0 || count > kMaxCpuidEntries || body != count * sizeof(kvm_cpuid_entry2))
        return std::nullopt;  // cut short or grown: not what was written
    std::vector<kvm_cpuid_entry2> entries(count);
    std::memcpy(entries.data(), content.data() + end + 1, body);
    return entries;
}

bool store_cached_cpuid(const std::string& path, const std::string& identity,
                        std::span<const kvm_cpuid_entry2> entries) {
    if (entries.empty() || entries.size() > kMaxCpuidEntries) return false;
    std::string content = fmt::format("{} {} entries={}\n", kMagic, identity, entries.size());
    content.append(reinterpret_cast<const char*>(entries.data()), entries.size_bytes());
    return bool(replace_file_atomically(path, content));
}

}  // namespace domus::kvm
