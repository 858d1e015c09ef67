// PersistentGrants: see the header.
#include "backends/block/persistent_grants.hpp"

namespace domus::backends {

std::optional<std::span<std::byte>> PersistentGrants::page(grant_ref_t ref, bool writable) {
    auto found = grants_.find(ref);
    if (found != grants_.end() && (found->second.writable || !writable))
        return found->second.mapping->page(0);
    if (found == grants_.end() && grants_.size() >= kMaxGrants) return std::nullopt;
    // New, or kept read-only and now needed writable: map it (again) as the request needs,
    // then let the old mapping go.
    std::unique_ptr<MappedPages> mapping;
    grant_ref_t refs[] = {ref};
    if (!host_.map_grants(refs, writable, mapping)) return std::nullopt;
    Grant& grant = grants_[ref];
    grant.mapping = std::move(mapping);
    grant.writable = writable;
    return grant.mapping->page(0);
}

}  // namespace domus::backends
