// StateJournal: couples the Store's change tracking to the Journal file. Transports
// call commit() after handling requests and before answering them, so every
// acknowledged change is in the journal; the journal is compacted into a snapshot once
// it grows past kCompactBytes. Also the servers' shared durability hooks (Durable).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/result.hpp"
#include "store/journal.hpp"
#include "store/store.hpp"

namespace domus::store {

class KeeperLink;

class StateJournal {
public:
    static constexpr std::uint64_t kCompactBytes = 4 * 1024 * 1024;

    // Opens <dir>/journal, replays snapshot and journal into `store` (which must be
    // fresh), then turns on its change tracking.
    static Result<std::unique_ptr<StateJournal>> recover(Store& store, const std::string& dir);

    // Whether there is anything to journal since the last commit.
    bool pending() const noexcept { return store_.has_changes(); }
    // Appends what changed since the last commit as one record (nothing if nothing
    // did). A failure is logged: durability is lost, the store keeps serving.
    void commit() noexcept;
    // A snapshot of the whole state now; the journal starts over.
    void compact() noexcept;
    // A clean stop: the state files are removed (a fresh store starts empty).
    void discard() noexcept { journal_.remove(); }

    std::uint64_t records() const noexcept { return records_; }
    Journal& journal() noexcept { return journal_; }

private:
    StateJournal(Store& store, Journal journal) : store_(store), journal_(std::move(journal)) {}

    Store& store_;
    Journal journal_;
    std::uint64_t records_ = 0;
};

// What a server needs to survive a store restart; both optional (tests run without).
struct Durable {
    StateJournal* journal = nullptr;
    KeeperLink* keeper = nullptr;
};

}  // namespace domus::store
