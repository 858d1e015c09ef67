// The credit scheduler's accuracy (bench/run sched): weight shares and cap through domusd.
#pragma once

#include <string>

namespace domus::bench {

// sched_weight_ratio, sched_weight_error_pct, sched_cap_percent, sched_cap_error_pct.
void bench_sched(const std::string& bin, const std::string& guests);

}  // namespace domus::bench
