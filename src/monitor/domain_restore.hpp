// Restoring a domain from a saved image or an incoming migration stream. A file is
// checked whole first (a corrupt or truncated one is refused before any domain exists),
// then read again while the domain is built. An incoming stream is applied as it comes:
// each round's pages straight into guest RAM, the rest kept for Domain::finish_restore.
#pragma once

#include <functional>
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
    // A migration's stream, its header and configuration already read by the receiver:
    // reads domain_info, the next record. A read waiting for the source gives up once
    // `cancelled` says so (the domain was destroyed meanwhile).
    static Result<std::unique_ptr<RestoreSource>> incoming(Fd stream,
                                                           std::function<bool()> cancelled);

    const migration::DomainInfo& info() const noexcept { return info_; }
    const migration::StreamSummary& summary() const noexcept { return summary_; }
    // Reads the rest of the stream: pages into `memory`, the other records kept below.
    // Refuses a stream that lacks a vCPU's state, the shared info or the clock. An
    // incoming stream is then read to its end of file: the source has let go of the
    // disks (docs/migration.md).
    Result<void> load(GuestMemory& memory);
    std::uint64_t bytes() const noexcept { return reader_.offset(); }

    std::vector<VcpuSnapshot> vcpus;  // by vCPU index, after load()
    migration::GuestClockState clock;
    migration::KeyValues store;                      // the domain's store subtree, after load()
    std::optional<migration::PhysmapState> physmap;  // absent in older images

private:
    RestoreSource(Fd fd, std::unique_ptr<migration::ByteSource> source, bool incoming)
        : fd_(std::move(fd)), incoming_(incoming), source_(std::move(source)), reader_(*source_) {}
    Result<void> read_domain_info();
    Fd fd_;
    bool incoming_;
    std::unique_ptr<migration::ByteSource> source_;
    migration::StreamReader reader_;
    migration::DomainInfo info_;
    migration::StreamSummary summary_;
};

}  // namespace domus::monitor
