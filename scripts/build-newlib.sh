#!/usr/bin/env bash
# Builds newlib (the guests' C library) from Debian's newlib-source package into a
# sysroot: $1/include and $1/lib. Idempotent: does nothing when the sysroot is complete.
set -euo pipefail
sysroot=$(realpath -m "${1:?usage: build-newlib.sh SYSROOT}")
stamp="$sysroot/.newlib-3.3.0-domus1"
[ -f "$stamp" ] && exit 0

tarball=$(ls /usr/src/newlib/newlib-*.tar.* 2>/dev/null | head -n1 || true)
[ -n "$tarball" ] || { echo "build-newlib: /usr/src/newlib has no source tarball (apt-get install newlib-source)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/domus-newlib.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xf "$tarball"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n1)
mkdir "$work/build"
cd "$work/build"
gcc_include=$(gcc -print-file-name=include)
# Host gcc acts as the x86_64-elf compiler: freestanding, no PIC (guests link static at a
# fixed address). __DYNAMIC_REENT__ makes newlib ask __getreent() for the per-thread
# state, and retargetable locking lets the guest kernel supply real locks (SMP).
cflags="-O2 -g -ffreestanding -fno-stack-protector -fno-pic -fno-pie -D__DYNAMIC_REENT__ -nostdinc -isystem $gcc_include"
echo "build-newlib: configuring newlib into $sysroot" >&2
"$src/configure" --target=x86_64-elf --prefix="$work/install" --disable-multilib \
    --disable-newlib-supplied-syscalls --enable-newlib-retargetable-locking \
    --enable-newlib-io-long-long --enable-newlib-io-c99-formats --disable-nls \
    CC_FOR_TARGET=gcc AS_FOR_TARGET=as AR_FOR_TARGET=ar RANLIB_FOR_TARGET=ranlib \
    LD_FOR_TARGET=ld NM_FOR_TARGET=nm OBJDUMP_FOR_TARGET=objdump STRIP_FOR_TARGET=strip \
    CFLAGS_FOR_TARGET="$cflags" >configure.log 2>&1 || { tail -20 configure.log >&2; exit 1; }
echo "build-newlib: building (about a minute)" >&2
make -j"$(nproc)" all-target-newlib >make.log 2>&1 || { tail -30 make.log >&2; exit 1; }
make install-target-newlib >install.log 2>&1 || { tail -20 install.log >&2; exit 1; }
rm -rf "$sysroot"
mkdir -p "$sysroot"
cp -a "$work/install/x86_64-elf/include" "$work/install/x86_64-elf/lib" "$sysroot/"
touch "$stamp"
echo "build-newlib: done" >&2
