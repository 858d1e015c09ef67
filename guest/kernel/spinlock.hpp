// Kernel spinlocks. Holders keep upcalls masked on their vCPU (IrqSpinGuard), so an
// upcall handler on the same vCPU can never spin on a lock its own thread holds.
#pragma once

#include "arch.hpp"
#include "irq.hpp"

namespace domus::guest {

class Spinlock {
public:
    void lock()
    {
        while (__atomic_exchange_n(&held_, 1u, __ATOMIC_ACQUIRE))
            while (__atomic_load_n(&held_, __ATOMIC_RELAXED))
                cpu_relax();
    }
    bool try_lock() { return __atomic_exchange_n(&held_, 1u, __ATOMIC_ACQUIRE) == 0; }
    void unlock() { __atomic_store_n(&held_, 0u, __ATOMIC_RELEASE); }
    bool is_locked() const { return __atomic_load_n(&held_, __ATOMIC_RELAXED) != 0; }

private:
    uint32_t held_ = 0;
};

class IrqSpinGuard {
public:
    explicit IrqSpinGuard(Spinlock& lock)
        : lock_(lock)
        , flags_(irq_save())
    {
        lock_.lock();
    }
    ~IrqSpinGuard()
    {
        lock_.unlock();
        irq_restore(flags_);
    }
    IrqSpinGuard(const IrqSpinGuard&) = delete;
    IrqSpinGuard& operator=(const IrqSpinGuard&) = delete;

private:
    Spinlock& lock_;
    uint8_t flags_;
};

} // namespace domus::guest
