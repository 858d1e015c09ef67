// Test helper: makes a chosen operator new on the calling thread throw InjectedFault,
// an exception that is not std::bad_alloc, to prove a handler contains any exception.
#pragma once

namespace domus::store::testing {

struct InjectedFault {};

// The `nth` allocation from now on this thread (1: the next one) throws InjectedFault.
void fail_allocation(unsigned nth = 1) noexcept;
// Cancels a fault that has not fired yet.
void cancel_allocation_fault() noexcept;

}  // namespace domus::store::testing
