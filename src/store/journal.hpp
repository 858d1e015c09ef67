// Journal: the store daemon's state files in its run dir, an append-only journal of
// records plus a snapshot that compacts it. Each record is one write() of
// [u32 length][u32 crc32c][payload]: a record torn by the daemon's death fails its check
// and is cut off at the next open. The target is the daemon's death (kill -9), not a
// host power cut: records go to the page cache, never fsync'd (docs/store-semantics.md).
//
// Files (both start with a 16-byte header: magic, version, epoch):
//   journal        records since the snapshot, header epoch E
//   snapshot       one record, the whole state up to and including journal epoch S
//   snapshot.tmp   a snapshot being written; ignored and removed at open
// Compaction writes snapshot.tmp (epoch S = E), renames it over snapshot, then truncates
// the journal and starts epoch E + 1. A journal whose epoch is not above the snapshot's
// is already contained in it and is skipped, so a crash between any two steps replays
// the same state.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/fd.hpp"
#include "base/result.hpp"

namespace domus::store {

class Journal {
public:
    using Apply = std::function<Result<void>(std::string_view payload)>;

    // Opens (creating) <dir>/journal; removes a leftover snapshot.tmp.
    static Result<Journal> open(const std::string& dir);

    // Feeds the snapshot's payload, then every whole journal record, to `apply`, and
    // truncates a torn tail so that appends continue after the last whole record.
    Result<void> replay(const Apply& apply);
    // One record, one write(). Call before the request it records is answered.
    Result<void> append(std::string_view payload);
    // Replaces snapshot with `state` (everything) and empties the journal.
    Result<void> compact(std::string_view state);
    // A clean stop: the state is not kept (as before journals existed).
    void remove();

    std::uint64_t journal_bytes() const noexcept { return size_; }
    const std::string& dir() const noexcept { return dir_; }

    // Crash points, for tests: compact() stops (as if killed) after this step.
    enum class Step { None, SnapshotWritten, Renamed, Truncated };
    Step stop_after = Step::None;

private:
    Journal(std::string dir, Fd fd) : dir_(std::move(dir)), fd_(std::move(fd)) {}
    Result<void> start_epoch(std::uint64_t epoch);

    std::string dir_;
    Fd fd_;  // the journal, O_APPEND
    std::uint64_t size_ = 0;
    std::uint64_t epoch_ = 1;
};

// CRC-32C (Castagnoli, as iSCSI and ext4), the records' check; SSE 4.2 where present.
std::uint32_t crc32c(std::string_view bytes) noexcept;

}  // namespace domus::store
