/* Domus guest ABI: the emulated disk, an ATA-style PIO controller on the primary
 * channel. It is the full-virtualization baseline the PV block path is measured against:
 * every register access is one exit, as on real PIO hardware.
 *
 * Presence: the monitor sets DOMUS_BOOT_EMULATED_DISK in start_info.domus.flags when a
 * disk is attached. Guests must not probe the ports blindly (an unclaimed port reads
 * 0xFF and the monitor logs it).
 *
 * Registers (8 bits unless said otherwise; a wider access to a register port is split
 * into byte accesses at port, port+1, ... as on an ISA bus):
 *
 *   port   read                      write
 *   0x1F0  DATA (16 or 32 bits)      DATA (16 or 32 bits); 8-bit accesses are refused
 *   0x1F1  ERROR                     FEATURES (ignored)
 *   0x1F2  SECTOR COUNT              SECTOR COUNT (0 means 256)
 *   0x1F3  LBA bits 0-7              LBA bits 0-7
 *   0x1F4  LBA bits 8-15             LBA bits 8-15
 *   0x1F5  LBA bits 16-23            LBA bits 16-23
 *   0x1F6  DEVICE                    DEVICE: bit 6 LBA (must be 1), bit 4 drive (must be 0),
 *                                    bits 0-3 LBA bits 24-27; write 0xE0 | lba >> 24
 *   0x1F7  STATUS                    COMMAND
 *   0x3F6  ALTERNATE STATUS          DEVICE CONTROL (bit 2 SRST resets the device)
 *
 * Commands (28-bit LBA, at most 256 sectors of 512 bytes each):
 *   READ SECTORS  0x20  LBA, COUNT -> DRQ; the guest reads COUNT * 512 bytes from DATA
 *   WRITE SECTORS 0x30  LBA, COUNT -> DRQ; the guest writes COUNT * 512 bytes to DATA;
 *                       the sectors reach the image when the last byte arrives
 *   FLUSH CACHE   0xE7  the image is fdatasync'ed; ERR on failure
 *   IDENTIFY      0xEC  -> DRQ; 512 bytes of ATA IDENTIFY DEVICE data (words below)
 *
 * Protocol (polling, as a PIO driver does it): write DEVICE, COUNT, LBA low/mid/high,
 * then COMMAND; read STATUS until BSY is clear; ERR set: ERROR says why, the command is
 * over; DRQ set: move data (one sector per DRQ block; string I/O may cross sector
 * boundaries, the device keeps DRQ until the last byte); after a write, read STATUS
 * until DRQ is clear and check ERR. Commands complete synchronously: this device is
 * never seen BSY, but drivers must still poll.
 *
 * Errors (STATUS.ERR set, ERROR says):
 *   ABRT  unknown command; a command while a transfer is in progress (the transfer is
 *         cancelled too); DATA accessed with no transfer in progress (reads return
 *         0xFF bytes), in the wrong direction or with 8 bits; CHS addressing or drive 1
 *         selected; WRITE SECTORS on a read-only disk; a failed flush
 *   IDNF  LBA + COUNT beyond the last sector (with ABRT)
 *   UNC   the host could not read or write the image (with ABRT)
 */
#ifndef DOMUS_ABI_EMULATED_DISK_H
#define DOMUS_ABI_EMULATED_DISK_H

#define EDISK_PORT_DATA 0x1F0
#define EDISK_PORT_ERROR 0x1F1    /* read */
#define EDISK_PORT_FEATURES 0x1F1 /* write */
#define EDISK_PORT_COUNT 0x1F2
#define EDISK_PORT_LBA_LOW 0x1F3
#define EDISK_PORT_LBA_MID 0x1F4
#define EDISK_PORT_LBA_HIGH 0x1F5
#define EDISK_PORT_DEVICE 0x1F6
#define EDISK_PORT_STATUS 0x1F7     /* read */
#define EDISK_PORT_COMMAND 0x1F7    /* write */
#define EDISK_PORT_ALT_STATUS 0x3F6 /* read */
#define EDISK_PORT_CONTROL 0x3F6    /* write */

#define EDISK_STATUS_ERR 0x01
#define EDISK_STATUS_DRQ 0x08
#define EDISK_STATUS_DSC 0x10 /* seek complete: always set when ready */
#define EDISK_STATUS_DF 0x20
#define EDISK_STATUS_DRDY 0x40
#define EDISK_STATUS_BSY 0x80

#define EDISK_ERROR_ABRT 0x04
#define EDISK_ERROR_IDNF 0x10
#define EDISK_ERROR_UNC 0x40

#define EDISK_DEVICE_LBA 0x40
#define EDISK_DEVICE_DRIVE1 0x10
#define EDISK_DEVICE_OBSOLETE 0xA0 /* bits 7 and 5, set by convention */

#define EDISK_CONTROL_SRST 0x04
#define EDISK_CONTROL_NIEN 0x02 /* ignored: the device never interrupts */

#define EDISK_CMD_READ_SECTORS 0x20
#define EDISK_CMD_WRITE_SECTORS 0x30
#define EDISK_CMD_FLUSH_CACHE 0xE7
#define EDISK_CMD_IDENTIFY 0xEC

#define EDISK_SECTOR_SIZE 512
#define EDISK_MAX_SECTORS_PER_COMMAND 256
#define EDISK_MAX_LBA28_SECTORS 0x0FFFFFFFu /* larger images show only this much */

/* IDENTIFY DEVICE data: 256 little-endian 16-bit words. Words the device fills: */
#define EDISK_ID_GENERAL 0        /* 0x0040: fixed, non-removable ATA device */
#define EDISK_ID_SERIAL 10        /* words 10-19: ASCII, byte-swapped per word */
#define EDISK_ID_FIRMWARE 23      /* words 23-26 */
#define EDISK_ID_MODEL 27         /* words 27-46: "DOMUS EMULATED DISK" */
#define EDISK_ID_MAX_MULTIPLE 47  /* 0x8000: READ/WRITE MULTIPLE not supported */
#define EDISK_ID_CAPABILITIES 49  /* bit 9: LBA supported */
#define EDISK_ID_LBA28_SECTORS 60 /* words 60-61: addressable sectors, low word first */
#define EDISK_ID_COMMAND_SETS 83  /* bit 12: FLUSH CACHE supported */
#define EDISK_ID_DOMUS_FLAGS 129  /* vendor-specific word; Domus: bit 0 read-only */
#define EDISK_ID_FLAG_READ_ONLY 0x0001

#endif
