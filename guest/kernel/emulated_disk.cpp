// The emulated ATA PIO disk driver (see emulated_disk.hpp). A command is: the task
// file (6 port writes), then per 512-byte sector one STATUS poll and one string
// transfer, then a final STATUS read; all under one mutex.
#include "emulated_disk.hpp"

#include "arch.hpp"
#include "boot_info.hpp"
#include "printk.hpp"
#include "sync.hpp"

#include <domus/abi/emulated_disk.h>
#include <domus/emulated_disk.h>
#include <errno.h>

namespace domus::guest {

namespace {

    constexpr unsigned kPollLimit = 100000; // ~3 s of exits; this device is never BSY for long
    constexpr unsigned kSectorDwords = EDISK_SECTOR_SIZE / 4;

    domus_mutex_t lock = DOMUS_MUTEX_INIT;
    // Written once, under the lock, after capacity and read_only (release); read without it.
    constexpr uint32_t kNotProbed = 0, kPresent = 1, kAbsent = 2;
    uint32_t probe_state = kNotProbed;
    uint64_t capacity;
    bool read_only;

    inline uint8_t inb(uint16_t port)
    {
        uint8_t value;
        asm volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
        return value;
    }

    inline void outb(uint16_t port, uint8_t value)
    {
        asm volatile("outb %0, %1" ::"a"(value), "Nd"(port));
    }

    // String I/O: one instruction for a whole sector; KVM may still split it into exits.
    inline void insl(uint16_t port, void* buffer, unsigned long dwords)
    {
        asm volatile("rep insl" : "+D"(buffer), "+c"(dwords) : "d"(port) : "memory");
    }

    inline void outsl(uint16_t port, const void* buffer, unsigned long dwords)
    {
        asm volatile("rep outsl" : "+S"(buffer), "+c"(dwords) : "d"(port) : "memory");
    }

    // Polls STATUS until BSY clears; -EIO if it never does.
    int wait_not_busy(uint8_t& status)
    {
        for (unsigned i = 0; i < kPollLimit; ++i) {
            status = inb(EDISK_PORT_STATUS);
            if (!(status & EDISK_STATUS_BSY))
                return 0;
            cpu_relax();
        }
        return -EIO;
    }

    // Waits until BSY clears, then reads the command's state: ERR fails it, and DRQ must
    // be `drq` (set: the next block of a transfer is ready; clear: the command is over).
    int wait_ready(bool drq)
    {
        uint8_t status;
        if (int rc = wait_not_busy(status))
            return rc;
        if (status & EDISK_STATUS_ERR) {
            printk("edisk: error %#x\n", inb(EDISK_PORT_ERROR));
            return -EIO;
        }
        return bool(status & EDISK_STATUS_DRQ) == drq ? 0 : -EIO;
    }

    // Waits for the next DRQ block of a transfer.
    int wait_drq() { return wait_ready(true); }

    // After the last block: the command is over, successfully or not.
    int wait_done() { return wait_ready(false); }

    void issue(uint8_t command, uint64_t lba, unsigned count)
    {
        outb(EDISK_PORT_DEVICE,
            uint8_t(EDISK_DEVICE_OBSOLETE | EDISK_DEVICE_LBA | ((lba >> 24) & 0x0F)));
        outb(EDISK_PORT_COUNT, uint8_t(count)); // 256 is written as 0
        outb(EDISK_PORT_LBA_LOW, uint8_t(lba));
        outb(EDISK_PORT_LBA_MID, uint8_t(lba >> 8));
        outb(EDISK_PORT_LBA_HIGH, uint8_t(lba >> 16));
        outb(EDISK_PORT_COMMAND, command);
    }

    // IDENTIFY, with the lock held; true if the disk answered with a capacity.
    bool identify_locked()
    {
        uint16_t words[256];
        issue(EDISK_CMD_IDENTIFY, 0, 0);
        if (wait_drq() != 0) {
            printk("edisk: IDENTIFY failed\n");
            return false;
        }
        insl(EDISK_PORT_DATA, words, kSectorDwords);
        if (wait_done() != 0)
            return false;
        capacity
            = words[EDISK_ID_LBA28_SECTORS] | uint64_t(words[EDISK_ID_LBA28_SECTORS + 1]) << 16;
        read_only = words[EDISK_ID_DOMUS_FLAGS] & EDISK_ID_FLAG_READ_ONLY;
        return capacity != 0;
    }

    bool present()
    {
        uint32_t state = __atomic_load_n(&probe_state, __ATOMIC_ACQUIRE);
        if (state == kNotProbed) {
            mutex_lock(&lock);
            state = probe_state;
            if (state == kNotProbed) {
                // Only a disk the monitor announced is touched: no blind port reads.
                bool found = (boot.flags & DOMUS_BOOT_EMULATED_DISK) && identify_locked();
                state = found ? kPresent : kAbsent;
                __atomic_store_n(&probe_state, state, __ATOMIC_RELEASE); // after capacity
            }
            mutex_unlock(&lock);
        }
        return state == kPresent;
    }

    int check(uint64_t sector, uint32_t count, const void* buf)
    {
        if (!present())
            return -ENODEV;
        if (!buf || sector > capacity || count > capacity - sector)
            return -EINVAL;
        return 0;
    }

    // One command of 1..256 sectors, with the lock held.
    int transfer(bool write, uint64_t lba, unsigned count, uint8_t* buf)
    {
        issue(write ? EDISK_CMD_WRITE_SECTORS : EDISK_CMD_READ_SECTORS, lba, count);
        for (unsigned i = 0; i < count; ++i, buf += EDISK_SECTOR_SIZE) {
            if (int rc = wait_drq())
                return rc;
            if (write)
                outsl(EDISK_PORT_DATA, buf, kSectorDwords);
            else
                insl(EDISK_PORT_DATA, buf, kSectorDwords);
        }
        return wait_done();
    }

    int transfer_all(bool write, uint64_t sector, uint32_t count, uint8_t* buf)
    {
        mutex_lock(&lock);
        int rc = 0;
        while (count && rc == 0) {
            unsigned n
                = count < EDISK_MAX_SECTORS_PER_COMMAND ? count : EDISK_MAX_SECTORS_PER_COMMAND;
            rc = transfer(write, sector, n, buf);
            sector += n;
            count -= n;
            buf += size_t(n) * EDISK_SECTOR_SIZE;
        }
        mutex_unlock(&lock);
        return rc;
    }

} // namespace

void init_emulated_disk()
{
    if (present())
        printk("edisk: %lu sectors (%lu MiB)%s\n", (unsigned long)capacity,
            (unsigned long)(capacity >> 11), read_only ? ", read-only" : "");
}

} // namespace domus::guest

using namespace domus::guest;

extern "C" {

int edisk_present(void) { return present() ? 1 : 0; }
uint64_t edisk_sectors(void) { return present() ? capacity : 0; }
int edisk_read_only(void) { return present() && read_only ? 1 : 0; }

int edisk_read(uint64_t sector, uint32_t count, void* buf)
{
    if (int rc = check(sector, count, buf))
        return rc;
    return transfer_all(false, sector, count, static_cast<uint8_t*>(buf));
}

int edisk_write(uint64_t sector, uint32_t count, const void* buf)
{
    if (int rc = check(sector, count, buf))
        return rc;
    if (read_only)
        return -EROFS;
    // The buffer is only read (rep outsl); the cast serves the shared loop.
    return transfer_all(true, sector, count, static_cast<uint8_t*>(const_cast<void*>(buf)));
}

int edisk_flush(void)
{
    if (!present())
        return -ENODEV;
    mutex_lock(&lock);
    issue(EDISK_CMD_FLUSH_CACHE, 0, 0);
    int rc = wait_done();
    mutex_unlock(&lock);
    return rc;
}

} // extern "C"
