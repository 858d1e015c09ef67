// Where the benchmarks' own domusd keeps its run directory: on tmpfs, as /run/domus is on
// a Debian host. A disk file system would weigh in per domain (each has a log, a record
// and a control socket); on ext4 without a journal, as /tmp is on some hosts, allocating
// an inode scans past every one deleted in the last minutes, which grows with the churn.
#pragma once

#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include <string>

namespace domus::bench {

// A fresh path for run directory `name` of this process: under /dev/shm when that is a
// tmpfs, else under /tmp.
inline std::string run_root(const std::string& name) {
    struct statfs fs {};
    bool tmpfs = ::statfs("/dev/shm", &fs) == 0 && fs.f_type == TMPFS_MAGIC;
    return std::string(tmpfs ? "/dev/shm/" : "/tmp/") + name + "-" + std::to_string(::getpid());
}

}  // namespace domus::bench
