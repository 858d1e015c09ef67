// RestoreSource: reading a saved image or an incoming stream (see domain_restore.hpp).
#include "monitor/domain_restore.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cstring>

#include "monitor/domain_save.hpp"
#include "monitor/guest_memory.hpp"
#include "monitor/layout.hpp"

namespace domus::monitor {
namespace {

// A pipe from the source, read with an eye on whether the domain is still wanted.
class CancellableFdSource final : public migration::ByteSource {
public:
    CancellableFdSource(int fd, std::function<bool()> cancelled)
        : fd_(fd), cancelled_(std::move(cancelled)) {}
    Result<std::size_t> read(std::span<std::uint8_t> bytes) override {
        for (;;) {
            if (cancelled_()) return make_error("the domain was destroyed during the migration");
            pollfd p{fd_, POLLIN, 0};
            int ready = ::poll(&p, 1, 100);
            if (ready < 0 && errno != EINTR) return errno_error("poll on the migration stream");
            if (ready <= 0) continue;
            ssize_t n = ::read(fd_, bytes.data(), bytes.size());
            if (n >= 0) return std::size_t(n);
            if (errno != EINTR && errno != EAGAIN)
                return errno_error("reading the migration stream");
        }
    }

private:
    int fd_;
    std::function<bool()> cancelled_;
};

}  // namespace

Result<std::unique_ptr<RestoreSource>> RestoreSource::open(const std::string& path, bool checked) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return errno_error("open " + path);
    migration::StreamSummary summary;
    if (!checked) {
        migration::FdSource check(fd.get());
        auto checked = migration::check_stream(check);
        if (!checked) return make_error("{}: {}", path, checked.error().message);
        summary = std::move(checked).value();
    }
    if (::lseek(fd.get(), 0, SEEK_SET) != 0) return errno_error("lseek " + path);
    int raw = fd.get();
    std::unique_ptr<RestoreSource> source(
        new RestoreSource(std::move(fd), std::make_unique<migration::FdSource>(raw), false));
    source->summary_ = summary;
    DOMUS_TRY(header, source->reader_.header());
    (void)header;
    DOMUS_TRY_VOID(source->read_domain_info());
    return source;
}

Result<std::unique_ptr<RestoreSource>> RestoreSource::incoming(Fd stream,
                                                               std::function<bool()> cancelled) {
    int raw = stream.get();
    std::unique_ptr<RestoreSource> source(new RestoreSource(
        std::move(stream), std::make_unique<CancellableFdSource>(raw, std::move(cancelled)), true));
    DOMUS_TRY_VOID(source->read_domain_info());
    return source;
}

// domain_info, after the configuration when the stream has it first (version 2).
Result<void> RestoreSource::read_domain_info() {
    for (;;) {
        DOMUS_TRY(record, reader_.next());
        if (record.type == std::uint32_t(migration::RecordType::xl_config)) continue;
        if (record.type != std::uint32_t(migration::RecordType::domain_info))
            return make_error("the stream has {} where domain_info belongs",
                              migration::record_type_name(record.type));
        DOMUS_TRY(info, migration::decode_domain_info(record.body));
        info_ = std::move(info);
        return {};
    }
}

Result<void> RestoreSource::load(GuestMemory& memory) {
    if (memory.size() != info_.nr_pfns * kPageSize)
        return make_error("the image has {} frames, the new domain {}", info_.nr_pfns,
                          memory.size() / kPageSize);
    vcpus.assign(info_.vcpus, {});
    std::vector<bool> have_vcpu(info_.vcpus);
    bool have_shared = false, have_clock = false;
    for (;;) {
        DOMUS_TRY(record, reader_.next());
        switch (migration::RecordType(record.type & ~migration::kOptionalRecord)) {
            case migration::RecordType::end:
                break;
            case migration::RecordType::page_data: {
                DOMUS_TRY(batch, migration::decode_page_batch(record.body, info_.nr_pfns));
                std::size_t next = 0;
                for (auto entry : batch.entries) {
                    std::uint64_t gpa = (entry & ~migration::kZeroPage) * kPageSize;
                    std::byte* page = memory.base() + gpa;  // gpa < size: checked by decode
                    if (entry & migration::kZeroPage) {
                        std::memset(page, 0, kPageSize);
                    } else {
                        std::memcpy(page, batch.data.data() + next * kPageSize, kPageSize);
                        ++next;
                    }
                }
                continue;
            }
            case migration::RecordType::vcpu_state: {
                DOMUS_TRY(state, migration::decode_vcpu_state(record.body));
                if (state.id >= info_.vcpus || have_vcpu[state.id])
                    return make_error("vcpu_state for vCPU {} of a {}-vCPU domain, or twice",
                                      state.id, info_.vcpus);
                DOMUS_TRY(snapshot, decode_vcpu(state));
                vcpus[state.id] = std::move(snapshot);
                have_vcpu[state.id] = true;
                continue;
            }
            case migration::RecordType::shared_info:
                have_shared = true;  // the page itself came with the memory
                continue;
            case migration::RecordType::guest_clock: {
                DOMUS_TRY(decoded, migration::decode_guest_clock(record.body));
                clock = decoded;
                have_clock = true;
                continue;
            }
            case migration::RecordType::physmap: {
                DOMUS_TRY(decoded, migration::decode_physmap(record.body));
                if (decoded.frames != info_.nr_pfns)
                    return make_error("a physmap of {} frames for an image of {}", decoded.frames,
                                      info_.nr_pfns);
                physmap = std::move(decoded);
                continue;
            }
            case migration::RecordType::store_subtree: {
                DOMUS_TRY(pairs, migration::decode_key_values(record.body));
                store = std::move(pairs);
                continue;
            }
            case migration::RecordType::domain_info:
                return make_error("domain_info given twice");
            default:
                continue;  // the configuration is the toolstack's
        }
        break;  // end
    }
    for (std::uint32_t i = 0; i < info_.vcpus; ++i)
        if (!have_vcpu[i]) return make_error("the stream lacks the state of vCPU {}", i);
    if (!have_shared) return make_error("the stream has no shared_info record");
    if (!have_clock) return make_error("the stream has no guest_clock record");
    if (incoming_) {
        // The source writes nothing after `end`; it closes once its disks are ours to open.
        std::uint8_t extra;
        DOMUS_TRY(n, source_->read({&extra, 1}));
        if (n != 0) return make_error("data after the end of the stream");
    }
    return {};
}

}  // namespace domus::monitor
