// PV networking against the host's own (bench/run net): TCP throughput both ways and
// guest to guest, HTTP requests/s, ping latency and notifications per MiB.
#pragma once

#include <string>

namespace domus::bench {

// Runs in a network namespace of its own (the process enters it: call it last).
void bench_net(const std::string& bin, const std::string& guests, const std::string& source_dir);

}  // namespace domus::bench
