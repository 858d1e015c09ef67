// Restoring a domain from a saved image: the whole file is checked first (a corrupt or
// truncated one is refused before any domain exists), then read again while the domain
// is built: memory straight into guest RAM, the rest kept for Domain::build.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/fd.hpp"
#include "base/result.hpp"
#include "migration/stream_records.hpp"
#include "monitor/vcpu_runner.hpp"

namespace domus::monitor {

class GuestMemory;

class RestoreSource {
public:
    // Opens and checks the image at `path`; reads up to and including domain_info.
    // `checked`: the caller (domusd) has just checked it whole; load() still checks every
    // record it applies.
    static Result<std::unique_ptr<RestoreSource>> open(const std::string& path,
                                                       bool checked = false);

    const migration::DomainInfo& info() const noexcept { return info_; }
    const migration::StreamSummary& summary() const noexcept { return summary_; }
    // Reads the rest of the stream: pages into `memory`, the other records kept below.
    Result<void> load(GuestMemory& memory);

    std::vector<VcpuSnapshot> vcpus;  // by vCPU index, after load()
    migration::GuestClockState clock;
    std::optional<migration::PhysmapState> physmap;  // absent in older images

private:
    RestoreSource(Fd fd) : fd_(std::move(fd)), source_(fd_.get()), reader_(source_) {}
    Fd fd_;
    migration::FdSource source_;
    migration::StreamReader reader_;
    migration::DomainInfo info_;
    migration::StreamSummary summary_;
};

}  // namespace domus::monitor
