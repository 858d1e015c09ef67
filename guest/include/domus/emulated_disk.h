/* Domus guest kernel: the emulated ATA PIO disk driver, C API for applications.
 *
 * The full-virtualization baseline for block I/O: a polling PIO driver for the disk the
 * monitor emulates on the ATA primary channel (<domus/abi/emulated_disk.h>). Every
 * register access is a VM exit; sector data moves with `rep insl`/`rep outsl`, one
 * status poll per 512-byte sector, as real ATA PIO drivers do.
 *
 * Contracts:
 *  - The disk exists only when the monitor says so (DOMUS_BOOT_EMULATED_DISK in
 *    start_info); the driver never probes the ports otherwise. The first call (or the
 *    kernel at boot) identifies the disk.
 *  - All functions are "thread" functions (guest.h): they poll the device and may be
 *    called from any thread, never from an event handler. Commands are serialized by
 *    a mutex, so concurrent callers each see whole commands.
 *  - Results are 0 on success or a negative errno of the guest C library's <errno.h>:
 *    -ENODEV no disk; -EINVAL a NULL buffer or sectors past the end; -EROFS a write to
 *    a read-only disk; -EIO the device reported an error (or never became ready).
 *  - Any count is accepted; the driver splits it into commands of at most 256 sectors. */
#ifndef DOMUS_EMULATED_DISK_H
#define DOMUS_EMULATED_DISK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EDISK_SECTOR_BYTES 512u

int edisk_present(void); /* 1: a disk is attached and answered IDENTIFY; else 0 */
uint64_t edisk_sectors(void); /* capacity in 512-byte sectors; 0 without a disk */
int edisk_read_only(void); /* 1: writes fail with -EROFS */
int edisk_read(uint64_t sector, uint32_t count, void* buf);
int edisk_write(uint64_t sector, uint32_t count, const void* buf);
int edisk_flush(void); /* FLUSH CACHE: the image reaches stable storage */

#ifdef __cplusplus
}
#endif

#endif
