// Where the toolstack keeps its sockets and records: $DOMUS_RUN_DIR, default /run/domus.
#pragma once

#include <cstdint>
#include <string>

namespace domus::toolstack {

struct RunDir {
    std::string root;

    static RunDir from_environment();  // $DOMUS_RUN_DIR or /run/domus
    std::string daemon_socket() const { return root + "/domusd.sock"; }
    std::string daemon_lock() const { return root + "/domusd.lock"; }
    std::string daemon_log() const { return root + "/domusd.log"; }
    std::string store_socket() const { return root + "/xenstored/socket"; }
    std::string domains() const { return root + "/domains"; }
    std::string domain_dir(std::uint16_t domid) const {
        return domains() + "/" + std::to_string(domid);
    }
    std::string control_socket(std::uint16_t domid) const { return domain_dir(domid) + "/control"; }
    std::string record(std::uint16_t domid) const { return domain_dir(domid) + "/record.json"; }
    std::string vmm_log(std::uint16_t domid) const { return domain_dir(domid) + "/vmm.log"; }
};

}  // namespace domus::toolstack
