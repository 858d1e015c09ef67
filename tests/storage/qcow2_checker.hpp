// A qcow2 consistency checker of our own, independent of the allocator: walks header,
// refcount table, L1 and L2 tables, counts references per cluster and compares them with
// the stored refcounts (what `qemu-img check` does, stricter: no sharing at all).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace domus::storage::testing {

struct CheckReport {
    std::vector<std::string> errors;  // corruption: refcount below references, overlaps, ...
    std::uint64_t leaks = 0;          // clusters with a refcount but no reference
    std::uint64_t data_clusters = 0;
    std::string summary() const;
};

CheckReport check_qcow2(const std::string& path);

}  // namespace domus::storage::testing
