// GrantedPages: a backend's view (backends::MappedPages) of one GrantBatch, so that a
// backend in the monitor maps a request's grants with one call and one lock.
#pragma once

#include <memory>
#include <span>

#include "backends/backend_host.hpp"
#include "monitor/grant_table.hpp"

namespace domus::monitor {

class GrantedPages final : public backends::MappedPages {
public:
    std::size_t size() const noexcept override { return batch_.size(); }
    std::span<std::byte> page(std::size_t i) const noexcept override { return batch_.page(i); }

    // BackendHost::map_grants for a backend serving `grantee` from `table`.
    static Result<std::unique_ptr<backends::MappedPages>> map(GrantTable& table, domid_t grantee,
                                                              std::span<const grant_ref_t> refs,
                                                              bool writable) {
        auto pages = std::make_unique<GrantedPages>();
        DOMUS_TRY_VOID(table.map_batch(grantee, refs, writable, pages->batch_));
        return std::unique_ptr<backends::MappedPages>(std::move(pages));
    }

private:
    GrantBatch batch_;
};

}  // namespace domus::monitor
