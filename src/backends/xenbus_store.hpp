// XenbusStore: the store as a backend sees it: Domain 0's connection, with the calls a
// XenBus device makes (PV ABI reference, section 10). The monitor implements it over the
// store daemon's tool socket; tests implement it in memory.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace domus::backends {

struct XenbusWatchEvent {
    std::string path;
    std::string token;
};

// The calls of one transaction of XenbusStore::transact.
class XenbusTransaction {
public:
    virtual ~XenbusTransaction() = default;
    virtual Result<void> write(std::string_view path, std::string_view value) = 0;
    virtual Result<void> mkdir(std::string_view path) = 0;
    // perms in Xen's string form, e.g. {"n0", "r7"}.
    virtual Result<void> set_perms(std::string_view path,
                                   const std::vector<std::string>& perms) = 0;
};

class XenbusStore {
public:
    virtual ~XenbusStore() = default;
    virtual Result<std::string> read(std::string_view path) = 0;
    virtual Result<void> write(std::string_view path, std::string_view value) = 0;
    // A missing node is not an error.
    virtual Result<void> remove(std::string_view path) = 0;
    // Runs body(transaction) and commits it: others see all of it or nothing (a commit
    // that lost a race runs the body again).
    virtual Result<void> transact(const std::function<Result<void>(XenbusTransaction&)>& body) = 0;
    virtual Result<void> watch(std::string_view path, std::string_view token) = 0;
    // A queued watch event, or (when none is queued and `block`) the next one to come;
    // nothing when none is there and !block.
    virtual Result<std::optional<XenbusWatchEvent>> next_event(bool block) = 0;
    // Readable when a watch event may be waiting (for the device thread's poll).
    virtual int fd() const noexcept = 0;
};

}  // namespace domus::backends
