// StoreKeeper: domusd's half of the store's fd keeper (store/keeper_protocol.hpp). It
// holds every fd the store daemon deposits (its listening sockets, tool connections,
// attached guest rings), watches the store process (pidfd), and when the store dies
// starts a new one with --keeper-fd and hands everything back, so that clients and
// monitors see a pause, not a close. A store that closes the link but lives on (it
// replaced us, or could not write to us) is simply linked to again.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/fd.hpp"
#include "base/result.hpp"
#include "store/keeper_protocol.hpp"
#include "toolstack/run_dir.hpp"

namespace domus::toolstack {

class StoreKeeper {
public:
    // Links to the store running for `run_dir` (it deposits everything it holds) and
    // starts watching it from a thread of its own.
    static Result<std::unique_ptr<StoreKeeper>> start(const RunDir& run_dir);
    ~StoreKeeper();
    StoreKeeper(const StoreKeeper&) = delete;
    StoreKeeper& operator=(const StoreKeeper&) = delete;

    std::size_t deposits() const;
    std::uint64_t restarts() const noexcept { return restarts_; }

private:
    struct Kept {
        store::KeeperMessage message;
        std::vector<Fd> fds;
    };

    explicit StoreKeeper(RunDir run_dir) : run_dir_(std::move(run_dir)) {}
    Result<void> link_running_store();
    Result<void> restart_store();
    // Whether the store (the pid in its pid file) still runs; waits up to `limit_ms`
    // for it to exit, as a store closing the link is usually a store dying.
    bool store_running(int limit_ms) const;
    void run();
    // One message from the store; false when the link broke.
    bool receive();
    // Receives until the store's Synced (it holds nothing we lack then), up to 5 s.
    Result<void> wait_synced();

    RunDir run_dir_;
    Fd link_;
    Fd stop_;
    std::thread thread_;
    mutable std::mutex mutex_;
    std::map<std::uint64_t, Kept> kept_;    // what the store holds (as of its last Synced)
    std::map<std::uint64_t, Kept> staged_;  // deposits between a Reset and its Synced
    bool stopping_ = false;                 // the store said it stops cleanly: do not restart it
    bool synced_ = false;
    int unsynced_restarts_ = 0;  // stores started that never said Synced
    std::atomic<std::uint64_t> restarts_{0};
};

}  // namespace domus::toolstack
