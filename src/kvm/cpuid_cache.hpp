// KVM_GET_SUPPORTED_CPUID's answer kept in a file between monitor starts. On a nested
// host the query costs ~0.45 ms of `cpuid` exits, the largest step of a lone domain's
// start before its guest runs. The answer depends on the running kernel, the load of its
// KVM modules and the CPU's microcode, so the file names all three and is used only where
// they still match, as libvirt's capabilities cache does (docs/architecture.md).
#pragma once

#include <linux/kvm.h>

#include <optional>
#include <span>
#include <string>
#include <vector>

namespace domus::kvm {

// The cache's name in a monitor's run directory.
inline constexpr const char* kCpuidCacheName = "kvm-cpuid";

// This boot of this kernel, its KVM modules as loaded now (a reload gives their sysfs
// directories new inodes) and the microcode's revision where the kernel shows it.
std::string host_cpuid_identity();

// The entries the file at `path` holds for `identity`; nothing if it is missing, of
// another host state, malformed, or not this user's alone (owner, no group/other write).
std::optional<std::vector<kvm_cpuid_entry2>> load_cached_cpuid(const std::string& path,
                                                               const std::string& identity);

// Replaces the file at `path` atomically (a new file renamed over it). False if it could
// not: a start without the cache is only slower.
bool store_cached_cpuid(const std::string& path, const std::string& identity,
                        std::span<const kvm_cpuid_entry2> entries);

}  // namespace domus::kvm
