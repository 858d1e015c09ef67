# Compiler flags for bench/compute_kernel.c, shared by the guest build (bench_compute.elf)
# and the host build (the native baseline), so both run exactly the same code.
set(DOMUS_COMPUTE_KERNEL_FLAGS "-O2 -march=x86-64-v3" CACHE STRING
    "flags for bench/compute_kernel.c in both the guest and the native build")
