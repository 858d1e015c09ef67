// The control socket's device requests, which may take seconds (a guest releasing a
// disk) and so run off the control thread:
//   {"op":"block-attach", "target":..., "format":"raw|qcow2", "vdev":..., "virtual_device":N,
//    "read_only":bool, "discard":bool}                      -> {"ok":true}
//   {"op":"block-detach", "vdev":..., "force":bool, "timeout_ms":N}
//                                                           -> {"ok":true, "forced":bool}
//   {"op":"disk-replace", "disks":[{"vdev":..., "target":..., "format":...}, ...]}
//                                                           -> {"ok":true, "paused_ms":x}
//   {"op":"disk-rebase", "vdev":..., "image":S, "backing":P, "backing_format":"qcow2|raw"}
//        -> {"ok":true, "bytes":N, "streamed":bool, "longest_hold_ms":x, "paused_ms":0}
//        (drops S from the disk's chain live: BlockDevices::rebase_image)
//   {"op":"network-attach", "vif":VIFSPEC (devid and mac settled)}
//                                        -> {"ok":true, "devid":N, "ifname":...}
//   {"op":"network-detach", "devid":N, "force":bool, "timeout_ms":N}
//                                                           -> {"ok":true, "forced":bool}
//   {"op":"vif-rate", "devid":N, "bytes_per_interval":B, "interval_us":U} (B 0: none)
//   {"op":"block-rate", "vdev":..., "rate_bytes":B, "rate_iops":N} (0: unlimited)
//                                                           -> {"ok":true}
//   {"op":"disk-images"}  -> {"ok":true, "disks":[{"vdev":..., "target":...}, ...]}
//                            (after any change in progress: for the daemon's recovery)
//   {"op":"disks-flush"}  -> {"ok":true}: every image's caches written to its files
//                            (migrate --copy-disks copies the files next)
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace domus::monitor {

class Domain;

bool is_device_request(const std::string& op);
// Always answers: {"ok":true,...} or {"ok":false,"error":...}.
nlohmann::json handle_device_request(Domain& domain, const nlohmann::json& request);

}  // namespace domus::monitor
