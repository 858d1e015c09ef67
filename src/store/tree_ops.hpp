// The node operations of the protocol (READ, WRITE, MKDIR, RM, DIRECTORY,
// GET/SET_PERMS) with xenstored's permission and quota rules, run against a
// TreeView: the committed tree or a transaction. Each operation checks everything
// first and then changes the view, so a failure leaves the view untouched.
//
// Permission rules (reference 1.5): an existing node is checked directly; for a
// missing node, the nearest existing ancestor decides between ENOENT (caller may
// read it) and EACCES (may not). Creating nodes needs write access to the nearest
// existing ancestor; new nodes copy their parent's list, and an unprivileged
// creator becomes the owner.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "store/node_tree.hpp"
#include "store/quotas.hpp"
#include "store/watches.hpp"

namespace domus::store {

// Everything an operation needs besides the view. Paths are absolute and validated.
struct OpContext {
    TreeView& view;
    Caller caller;  // by value: callers often build it on the fly
    const Quotas& quotas;
    std::vector<Change>& changes;  // appended to by successful modifying operations
};

Result<std::string> read_value(OpContext& op, const std::string& path);
// The node itself (children, generation) after a read-access check.
Result<const Node*> read_node(OpContext& op, const std::string& path);
Result<PermissionList> get_perms(OpContext& op, const std::string& path);

// Creates missing ancestors with empty values. Fires a watch event for `path`.
Result<void> write_value(OpContext& op, const std::string& path, std::string_view value);
// Like write_value without touching an existing node's value; no event if it exists.
Result<void> make_directory(OpContext& op, const std::string& path);
// Removes `path` and its subtree. OK if it is absent but its parent exists; EINVAL on "/".
Result<void> remove_subtree(OpContext& op, const std::string& path);
// Owner or privileged only; changing the owner needs privilege (EPERM).
Result<void> set_perms(OpContext& op, const std::string& path, PermissionList perms);

}  // namespace domus::store
