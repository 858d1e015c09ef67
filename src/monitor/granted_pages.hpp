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
    void release() noexcept override { batch_.reset(); }

    // BackendHost::map_grants for a backend serving `grantee` from `table`.
    static Result<void> map(GrantTable& table, domid_t grantee, std::span<const grant_ref_t> refs,
                            bool writable, std::unique_ptr<backends::MappedPages>& pages) {
        auto* granted = dynamic_cast<GrantedPages*>(pages.get());
        if (!granted) {
            pages = std::make_unique<GrantedPages>();
            granted = static_cast<GrantedPages*>(pages.get());
        }
        return table.map_batch(grantee, refs, writable, granted->batch_);
    }

private:
    GrantBatch batch_;
};

}  // namespace domus::monitor
