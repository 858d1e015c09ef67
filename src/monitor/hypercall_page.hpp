// Fills the guest's hypercall page: one 32-byte stub per hypercall number.
#pragma once

#include <cstddef>
#include <span>

namespace domus::monitor {

// `page` is the 4096 bytes the image named with XEN_ELFNOTE_HYPERCALL_PAGE.
void fill_hypercall_page(std::span<std::byte> page) noexcept;

}  // namespace domus::monitor
