// The churn soak: domains created and destroyed through domusd in a loop (up to a cap
// alive at once), disks attached and detached, store traffic, and domusd and the store
// each killed (-9) and restarted once along the way; what domusd and the store hold at
// the start and at the end. bench/run soak runs the long one, the test suite a short one.
#pragma once

#include <string>
#include <vector>

namespace domus::soak {

struct Options {
    std::string run_dir;       // a fresh run directory (removed afterwards by the caller)
    std::string domus;         // the CLI binary (starts domusd and the store)
    std::string guest;         // the guest kernel: idle.elf (answers data/ping with data/pong)
    int domains = 600;         // created in total
    int max_alive = 200;       // alive at once, at most
    int disk_every = 10;       // a disk attached and detached every N creations
    bool kill_daemons = true;  // domusd at a third of the run, the store at two thirds
};

// What a process holds (from /proc).
struct Usage {
    long rss_kib = 0;
    int fds = 0;
};

struct Report {
    int created = 0, destroyed = 0;
    int lost = 0;  // alive domains that did not answer a store ping, or vanished
    int disk_rounds = 0;
    int store_writes = 0;
    bool domusd_restarted = false, store_restarted = false;
    Usage domusd_start, domusd_end, store_start, store_end;
    long nodes_start = 0, nodes_end = 0;  // the store's nodes with no domain alive
    int leftover_monitors = 0;            // domus-vmm processes after the last destroy
    double seconds = 0;
    double create_destroy_per_s = 0;  // pairs per second over the whole churn
    std::vector<std::string> errors;  // every failure, in order
};

Report run(const Options& options);

// Kills what the soak started for `run_dir`: domusd first (it would restart the store),
// then the store and any monitor left; returns once they are gone.
void stop(const std::string& run_dir);

}  // namespace domus::soak
