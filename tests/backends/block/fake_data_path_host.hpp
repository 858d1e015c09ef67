// FakeDataPathHost: a backend's host for tests and fuzzing, with no grant table behind
// it: grant ref i is page i of one page-aligned buffer, any ref past the end is refused
// (as a grant table refuses a bad ref), and every mapping is counted.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "backends/backend_host.hpp"

namespace domus::backends::fakes {

class FakeDataPathHost : public DataPathHost {
public:
    explicit FakeDataPathHost(std::size_t pages)
        : pages_(pages),
          memory_(
              static_cast<std::byte*>(std::aligned_alloc(XEN_PAGE_SIZE, pages * XEN_PAGE_SIZE))) {
        std::memset(memory_.get(), 0, pages * XEN_PAGE_SIZE);
    }

    Result<void> map_grants(std::span<const grant_ref_t> refs, bool writable,
                            std::unique_ptr<MappedPages>& pages) override {
        if (!pages) pages = std::make_unique<Pages>(live);
        auto& mine = static_cast<Pages&>(*pages);
        mine.release();
        for (grant_ref_t ref : refs)
            if (ref >= pages_) return make_error("bad gref {}", ref);
        if (writable) writable_maps += int(refs.size());
        maps += int(refs.size());
        for (grant_ref_t ref : refs)
            mine.pages.push_back(page(ref));
        live += int(refs.size());
        return {};
    }
    void notify_frontend() override { ++notifications; }

    std::span<std::byte> page(grant_ref_t ref) {
        return {memory_.get() + std::size_t(ref) * XEN_PAGE_SIZE, XEN_PAGE_SIZE};
    }

    int live = 0;           // mappings not yet released
    int writable_maps = 0;  // pages mapped writable, over all calls
    int maps = 0;           // pages mapped, over all calls
    int notifications = 0;

private:
    class Pages final : public MappedPages {
    public:
        explicit Pages(int& live) : live_(live) {}
        ~Pages() override { release(); }
        std::size_t size() const noexcept override { return pages.size(); }
        std::span<std::byte> page(std::size_t i) const noexcept override { return pages[i]; }
        void release() noexcept override {
            live_ -= int(pages.size());
            pages.clear();
        }
        std::vector<std::span<std::byte>> pages;

    private:
        int& live_;
    };
    struct Free {
        void operator()(std::byte* p) const { std::free(p); }
    };
    std::size_t pages_;
    std::unique_ptr<std::byte, Free> memory_;
};

}  // namespace domus::backends::fakes
