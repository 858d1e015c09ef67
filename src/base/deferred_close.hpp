// close_in_background(): the last close of a file whose release is slow (a KVM VM's
// teardown waits for RCU grace periods: 2-15 ms on the nested host) done by a short-lived
// child process, so that the caller can exit as soon as its own work is done.
#pragma once

#include "base/fd.hpp"
#include "base/result.hpp"

namespace domus {

// Hands `fd` to a child that shares our memory (no copy) but not our descriptor table:
// the child closes every other descriptor it got (so pipes and locks behave as if we had
// closed them), then `fd`, then exits; nobody waits for it (init reaps it). Call it last,
// when no other thread runs: the calling thread is renamed "vm-teardown", the child's
// name from its birth. On failure `fd` is closed here, synchronously.
Result<void> close_in_background(Fd fd);

}  // namespace domus
