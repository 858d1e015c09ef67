// Per-domain limits of the store, with C xenstored's defaults (reference 1.8).
// Privileged connections (dom0, the socket) are exempt from all of them.
#pragma once

#include <cstddef>

namespace domus::store {

struct Quotas {
    std::size_t nodes_per_domain = 1000;           // nodes owned by one domain -> ENOSPC
    std::size_t watches_per_connection = 128;      // -> ENOSPC
    std::size_t transactions_per_connection = 10;  // open at once -> ENOSPC
    std::size_t nodes_per_transaction = 1024;      // distinct nodes read or written -> ENOSPC
    std::size_t permissions_per_node = 5;          // entries in a SET_PERMS list -> ENOSPC
    std::size_t relative_path_max = 2048;          // path length after the home prefix -> EINVAL
    std::size_t node_size = 2048;  // value + perms + child names, in bytes -> ENOSPC
    // Request payloads over XENSTORE_PAYLOAD_MAX (4096) close the connection: the wire
    // decoder enforces that limit for everyone, privileged or not.
};

}  // namespace domus::store
