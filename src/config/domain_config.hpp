// DomainConfig: what a monitor needs to build one domain.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/channel_config.hpp"
#include "config/vbd_config.hpp"
#include "config/vif_config.hpp"

namespace domus::config {

struct DomainConfig {
    std::string kernel;  // path to the ELF image
    std::uint64_t memory_mib = 32;
    std::uint32_t vcpus = 1;  // 1..64
    std::string cmdline;
    std::uint16_t domid = 1;
    int console_output_fd = 1;  // where guest console output goes
    int console_input_fd = -1;  // keyboard for the guest; -1: none
    std::string store_run_dir;  // attach to the store daemon of this run dir; empty: no store
    std::string emulated_disk;  // raw image behind the emulated ATA disk; empty: none
    bool emulated_disk_read_only = false;
    std::vector<VbdConfig> disks;         // PV block devices (need the store)
    std::vector<ChannelConfig> channels;  // secondary PV consoles (need the store)
    std::vector<VifConfig> vifs;          // PV network interfaces (need the store)
};

}  // namespace domus::config
