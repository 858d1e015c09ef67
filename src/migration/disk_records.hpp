// The disk stream of `domus migrate --copy-disks` (docs/migration-stream.md "Disk
// stream"): the bodies of its disk_file and disk_data records, and their checked decoders.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "migration/stream.hpp"

namespace domus::migration {

inline constexpr std::uint32_t kNoBacking = 0xffff'ffffu;
inline constexpr std::uint32_t kMaxDiskFiles = 256;
inline constexpr std::uint32_t kMaxDiskData = 4u << 20;  // bytes of file data in one record

// One file of a disk: an image, or a file in its backing chain. Files come in id order
// (0, 1, ...), each backing file before the images that read through it.
struct DiskFile {
    std::uint32_t id = 0;
    std::uint64_t size = 0;  // the file's length in bytes (holes included)
    std::string path;        // where it is on the source (absolute)
    std::string format;      // "raw" or "qcow2": the file is sent as it is, not converted
    std::uint32_t backing = kNoBacking;  // the id of its backing file (qcow2)
};
std::vector<std::uint8_t> encode(const DiskFile& file);
// `next_id`: the id this record must have; a backing id must be an earlier file's.
Result<DiskFile> decode_disk_file(std::span<const std::uint8_t> body, std::uint32_t next_id);

// Bytes of file `id` from `offset`; what no record covers stays a hole (reads as zero).
struct DiskDataView {
    std::uint32_t id = 0;
    std::uint64_t offset = 0;
    std::span<const std::uint8_t> data;
};
// The record's body in pieces for StreamWriter::record: `head` is filled here.
std::vector<std::span<const std::uint8_t>> disk_data_pieces(std::vector<std::uint8_t>& head,
                                                            std::uint32_t id, std::uint64_t offset,
                                                            std::span<const std::uint8_t> data);
// `files`: those announced so far; the data must lie inside its file.
Result<DiskDataView> decode_disk_data(std::span<const std::uint8_t> body,
                                      std::span<const DiskFile> files);

}  // namespace domus::migration
