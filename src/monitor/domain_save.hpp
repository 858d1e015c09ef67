// Saving a suspended domain into a migration stream (docs/migration-stream.md): its
// memory (zero frames skipped), every vCPU's state, shared info, clock, the store subtree
// and xl configuration the toolstack hands over, then the end record.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/result.hpp"
#include "migration/stream_records.hpp"
#include "monitor/vcpu_runner.hpp"

namespace domus::monitor {

class Domain;

struct SaveProgress {
    const char* phase = "";
    std::uint64_t bytes = 0;  // written so far
    std::uint64_t pages = 0;  // frames with data so far
};
using ProgressFn = std::function<void(const SaveProgress&)>;

struct SaveResult {
    std::uint64_t bytes = 0;
    std::uint64_t pages = 0;
    std::uint64_t zero_pages = 0;
    std::uint64_t milliseconds = 0;
};

struct SaveRequest {
    std::string xl_config;
    migration::KeyValues store;  // the domain's store subtree, paths relative to its home
};

// The domain must be suspended (guest_suspend) and stays so. `fd` is written, not closed.
Result<SaveResult> save_domain(Domain& domain, int fd, const SaveRequest& request,
                               const ProgressFn& progress = {});

// vCPU state <-> the stream's tagged blobs.
migration::VcpuState encode_vcpu(std::uint32_t id, const VcpuSnapshot& snapshot);
Result<VcpuSnapshot> decode_vcpu(const migration::VcpuState& state);

}  // namespace domus::monitor
