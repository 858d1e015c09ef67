// `domus migrate --copy-disks` (docs/migration.md "Copying disks"): on the source, a
// domain's disk files with their whole backing chains written as a disk stream; on the
// destination, copies made from it (never over an existing file), the chains kept whole.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "migration/disk_records.hpp"

namespace domus::toolstack {

// The files of `disks` (DISKSPEC strings): each image and every file of its backing chain,
// backing files before the images that read through them, each file once.
Result<std::vector<migration::DiskFile>> disk_chain_files(const std::vector<std::string>& disks);

// Writes the disk stream into `fd`: a header with kFlagDisks, each file's disk_file and
// its data extents (holes are left out), the end record. `on_bytes` sees the bytes
// written so far after each record. Returns them all.
Result<std::uint64_t> send_disks(int fd, const std::vector<migration::DiskFile>& files,
                                 const std::function<void(std::uint64_t)>& on_bytes = {});

// A source path -> the path of its copy.
using DiskMoves = std::map<std::string, std::string>;

// Reads one disk stream from `fd` (nothing past its end record) and makes each file in
// `dir` under its own name (`dir` empty: at its source path). An existing file is never
// overwritten: the stream is refused. A copied image names its backing file's copy (by
// its name, relative: they lie side by side). On failure the files made are removed.
Result<DiskMoves> receive_disks(int fd, const std::string& dir);

// `disks` (DISKSPEC strings) with each target that moved replaced.
Result<std::vector<std::string>> moved_disk_specs(const std::vector<std::string>& disks,
                                                  const DiskMoves& moves);

}  // namespace domus::toolstack
