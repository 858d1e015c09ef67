// StateJournal: recovery, commit and compaction.
#include "store/state_journal.hpp"

#include "base/log.hpp"

namespace domus::store {

Result<std::unique_ptr<StateJournal>> StateJournal::recover(Store& store, const std::string& dir) {
    DOMUS_TRY(journal, Journal::open(dir));
    std::uint64_t records = 0;
    bool malformed = false;
    DOMUS_TRY_VOID(journal.replay([&](std::string_view payload) -> Result<void> {
        if (malformed) return {};
        ++records;
        if (auto applied = store.apply_state(payload); !applied) {
            // Whole (its check passed) yet not understood: a bug, not a kill. Keep what
            // came before it rather than refuse to serve; the snapshot below makes that
            // the new start, so later appends are not hidden behind this record.
            DOMUS_LOG_ERROR("xenstored", "{}/journal: record {} is malformed; replay ends there",
                            dir, records);
            malformed = true;
        }
        return {};
    }));
    if (records > 0)
        DOMUS_LOG_INFO("xenstored", "state recovered from {} ({} records, {} nodes)", dir, records,
                       store.tree().size());
    std::unique_ptr<StateJournal> state(new StateJournal(store, std::move(journal)));
    store.track_changes(true);
    if (malformed) state->compact();
    return state;
}

void StateJournal::commit() noexcept {
    try {
        std::string payload = store_.take_changes();
        if (payload.empty()) return;
        if (auto appended = journal_.append(payload); !appended) {
            DOMUS_LOG_ERROR("xenstored", "journal: {}", appended.error().message);
            return;
        }
        ++records_;
        if (journal_.journal_bytes() > kCompactBytes) compact();
    } catch (...) {  // out of memory: this record is lost, the store goes on
    }
}

void StateJournal::compact() noexcept {
    try {
        commit();
        if (auto done = journal_.compact(store_.encode_state()); !done)
            DOMUS_LOG_ERROR("xenstored", "snapshot: {}", done.error().message);
    } catch (...) {
    }
}

}  // namespace domus::store
