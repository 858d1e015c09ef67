/* Domus guest ABI: version of the contract in this directory.
 * A released layout never changes; additions bump the minor, breaks the major. */
#ifndef DOMUS_ABI_VERSION_H
#define DOMUS_ABI_VERSION_H

#define DOMUS_ABI_VERSION_MAJOR 1
/* 1.1: grant tables, blkif, emulated disk flag; 1.2: XENMEM_increase/decrease_reservation */
#define DOMUS_ABI_VERSION_MINOR 2
#define DOMUS_ABI_VERSION ((DOMUS_ABI_VERSION_MAJOR << 16) | DOMUS_ABI_VERSION_MINOR)

/* Guests may pin the version they were written for; a newer major fails to compile. */
#if defined(DOMUS_ABI_REQUIRED_MAJOR) && DOMUS_ABI_REQUIRED_MAJOR != DOMUS_ABI_VERSION_MAJOR
#error "Domus ABI major version mismatch"
#endif

#endif
