// Saving a suspended domain into a migration stream (docs/migration-stream.md): its
// memory (zero frames skipped), every vCPU's state, shared info, clock, the store subtree
// and xl configuration the toolstack hands over, then the end record.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "migration/stream_records.hpp"
#include "monitor/vcpu_runner.hpp"

namespace domus::monitor {

class Domain;

struct SaveProgress {
    const char* phase = "";   // live, suspending, memory, vcpus, done
    std::uint64_t bytes = 0;  // written so far
    std::uint64_t pages = 0;  // frames with data so far
    std::uint32_t round = 0;  // pre-copy rounds done
    std::uint64_t dirty = 0;  // frames dirtied during the last round
    std::uint64_t expected_downtime_ms = 0;
    unsigned throttle = 0;  // auto-converge: % of the vCPUs' time taken away
};
using ProgressFn = std::function<void(const SaveProgress&)>;

struct SaveResult {
    std::uint64_t bytes = 0;
    std::uint64_t pages = 0;  // page data sent (live: across all rounds)
    std::uint64_t zero_pages = 0;
    std::uint64_t milliseconds = 0;
    std::uint32_t rounds = 0;  // live: pre-copy rounds
    double final_ms = 0;       // from the domain suspended to the end of the stream
    std::uint64_t expected_downtime_ms = 0;
    unsigned throttle_percent = 0;
    std::vector<std::uint64_t> final_dirty;  // (working set of the last round)
};

// Live migration (iterative pre-copy over KVM's dirty log; docs/migration.md).
struct LiveOptions {
    bool enabled = false;
    std::uint32_t max_rounds = 30;
    std::uint64_t max_downtime_ms = 300;
    std::uint64_t rate_bytes_per_second = 0;  // 0: no limit
};

struct SaveRequest {
    std::string xl_config;
    migration::KeyValues store;  // the domain's store subtree, paths relative to its home
    LiveOptions live;
    // Live: asks the guest to suspend (through the toolstack) and returns once the domain
    // is suspended, or why not.
    std::function<Result<void>()> suspend;
};

// Not live: the domain must be suspended (guest_suspend) and stays so. Live: it runs
// while memory is copied and suspends (request.suspend) for the last round. `fd` is
// written, not closed.
Result<SaveResult> save_domain(Domain& domain, int fd, const SaveRequest& request,
                               const ProgressFn& progress = {});

// vCPU state <-> the stream's tagged blobs.
migration::VcpuState encode_vcpu(std::uint32_t id, const VcpuSnapshot& snapshot);
Result<VcpuSnapshot> decode_vcpu(const migration::VcpuState& state);

}  // namespace domus::monitor
