// RestoreSource: the two passes over a saved image (see domain_restore.hpp).
#include "monitor/domain_restore.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "monitor/domain_save.hpp"
#include "monitor/guest_memory.hpp"
#include "monitor/layout.hpp"

namespace domus::monitor {

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
    std::unique_ptr<RestoreSource> source(new RestoreSource(std::move(fd)));
    source->summary_ = summary;
    DOMUS_TRY(header, source->reader_.header());
    (void)header;
    DOMUS_TRY(first, source->reader_.next());
    DOMUS_TRY(info, migration::decode_domain_info(first.body));
    source->info_ = std::move(info);
    return source;
}

Result<void> RestoreSource::load(GuestMemory& memory) {
    if (memory.size() != info_.nr_pfns * kPageSize)
        return make_error("the image has {} frames, the new domain {}", info_.nr_pfns,
                          memory.size() / kPageSize);
    vcpus.assign(info_.vcpus, {});
    for (;;) {
        DOMUS_TRY(record, reader_.next());
        switch (migration::RecordType(record.type & ~migration::kOptionalRecord)) {
            case migration::RecordType::end:
                return {};
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
                break;
            }
            case migration::RecordType::vcpu_state: {
                DOMUS_TRY(state, migration::decode_vcpu_state(record.body));
                DOMUS_TRY(snapshot, decode_vcpu(state));
                vcpus.at(state.id) = std::move(snapshot);
                break;
            }
            case migration::RecordType::guest_clock: {
                DOMUS_TRY(decoded, migration::decode_guest_clock(record.body));
                clock = decoded;
                break;
            }
            case migration::RecordType::physmap: {
                DOMUS_TRY(decoded, migration::decode_physmap(record.body));
                if (decoded.frames != info_.nr_pfns)
                    return make_error("a physmap of {} frames for an image of {}", decoded.frames,
                                      info_.nr_pfns);
                physmap = std::move(decoded);
                break;
            }
            default:
                break;  // shared info is in memory already; the rest is the toolstack's
        }
    }
}

}  // namespace domus::monitor
