// The host file under a qcow2 image as the metadata code sees it: its descriptor, the
// cluster geometry, and how far it extends (grown as we allocate), so that every offset
// read from disk can be checked against the file before it is followed.
#pragma once

#include <algorithm>
#include <cstdint>

namespace domus::storage {

struct Qcow2HostFile {
    int fd = -1;
    std::uint32_t cluster_bits = 16;
    std::uint64_t end = 0;  // bytes: max(size at open, end of every cluster we allocated)

    std::uint64_t cluster_size() const { return 1ull << cluster_bits; }
    void note_cluster(std::uint64_t host_offset) {
        end = std::max(end, host_offset + cluster_size());
    }
    // True when a whole cluster at `offset` is aligned and inside the file.
    bool holds_cluster(std::uint64_t offset) const {
        return offset % cluster_size() == 0 && offset != 0 && offset < end &&
               cluster_size() <= end - offset;
    }
};

}  // namespace domus::storage
