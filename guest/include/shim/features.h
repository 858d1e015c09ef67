/* libstdc++ was configured for glibc and includes <features.h> first thing; newlib has
 * no such header. This one stands in for it, for C++ guest code only. */
#ifndef DOMUS_SHIM_FEATURES_H
#define DOMUS_SHIM_FEATURES_H

#include <sys/features.h>

#ifndef __GLIBC_PREREQ
#define __GLIBC_PREREQ(major, minor) 0
#endif

#endif
