// check_qcow2(): reference counting from scratch, compared with the stored refcounts.
#include "qcow2_checker.hpp"

#include <fmt/format.h>

#include <map>

#include "storage/qcow2_format.hpp"
#include "test_files.hpp"

namespace domus::storage::testing {

std::string CheckReport::summary() const {
    std::string out =
        fmt::format("{} errors, {} leaks, {} data clusters", errors.size(), leaks, data_clusters);
    for (std::size_t i = 0; i < errors.size() && i < 10; ++i)
        out += "\n  " + errors[i];
    return out;
}

CheckReport check_qcow2(const std::string& path) {
    CheckReport report;
    auto file = read_file(path);
    auto header = parse_header(file, file.size());
    if (!header) {
        report.errors.push_back("header: " + header.error().message);
        return report;
    }
    const Qcow2Header& h = *header;
    const std::uint64_t cs = h.cluster_size();
    const std::uint64_t file_clusters = (file.size() + cs - 1) / cs;
    std::map<std::uint64_t, std::uint64_t> refs;  // cluster index -> references
    auto reference = [&](std::uint64_t offset, std::uint64_t bytes, const char* what) {
        if (offset % cs != 0)
            report.errors.push_back(fmt::format("{} at {:#x} unaligned", what, offset));
        for (std::uint64_t c = offset / cs; c < (offset + bytes + cs - 1) / cs; ++c) {
            if (c >= file_clusters)
                report.errors.push_back(
                    fmt::format("{} at {:#x} beyond end of file", what, offset));
            ++refs[c];
        }
    };
    auto be64 = [&](std::uint64_t at) { return load_be64(file.data() + at); };

    reference(0, cs, "header");
    reference(h.refcount_table_offset, h.refcount_table_clusters * cs, "refcount table");
    std::vector<std::uint64_t> blocks;
    for (std::uint64_t i = 0; i < h.refcount_table_clusters * cs / 8; ++i) {
        std::uint64_t block = be64(h.refcount_table_offset + i * 8);
        blocks.push_back(block);
        if (block) reference(block, cs, "refcount block");
    }
    reference(h.l1_table_offset, std::uint64_t(h.l1_size) * 8, "L1 table");
    for (std::uint32_t i = 0; i < h.l1_size; ++i) {
        std::uint64_t l1 = be64(h.l1_table_offset + i * 8);
        std::uint64_t l2 = l1 & kOffsetMask;
        if (!l2) continue;
        if (!(l1 & kOflagCopied)) report.errors.push_back(fmt::format("L1[{}] lacks COPIED", i));
        reference(l2, cs, "L2 table");
        if (l2 + cs > file.size()) continue;
        for (std::uint64_t j = 0; j < cs / 8; ++j) {
            std::uint64_t entry = be64(l2 + j * 8);
            std::uint64_t data = entry & kOffsetMask;
            if (entry & kOflagCompressed) {
                report.errors.push_back("compressed cluster");
                continue;
            }
            if (!data) continue;
            if (!(entry & kOflagCopied))
                report.errors.push_back(fmt::format("L2 entry {:#x} lacks COPIED", entry));
            reference(data, cs, "data cluster");
            ++report.data_clusters;
        }
    }

    const std::uint64_t per_block = cs * 8 >> h.refcount_order;
    auto stored = [&](std::uint64_t c) -> std::uint64_t {
        std::uint64_t b = c / per_block;
        if (b >= blocks.size() || !blocks[b] || blocks[b] + cs > file.size()) return 0;
        return load_be16(file.data() + blocks[b] + (c % per_block) * 2);
    };
    std::uint64_t max_referenced = 0;
    for (auto [c, n] : refs) {
        max_referenced = std::max(max_referenced, c);
        if (n > 1)
            report.errors.push_back(fmt::format("cluster {:#x} referenced {} times", c * cs, n));
        std::uint64_t count = stored(c);
        if (count < n)
            report.errors.push_back(
                fmt::format("cluster {:#x}: refcount {} < {} references", c * cs, count, n));
        if (count > n) ++report.leaks;
    }
    for (std::uint64_t c = 0; c < file_clusters + per_block; ++c)
        if (!refs.count(c) && stored(c) != 0) ++report.leaks;
    // File size sane: nothing far beyond the last referenced cluster.
    if (file_clusters > max_referenced + 1 + per_block)
        report.errors.push_back(fmt::format("file has {} clusters but the last used is {}",
                                            file_clusters, max_referenced));
    return report;
}

}  // namespace domus::storage::testing
