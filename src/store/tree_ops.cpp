// Node operations over a TreeView, with permission, quota and parent rules.
#include "store/tree_ops.hpp"

#include <algorithm>

#include "store/error.hpp"
#include "store/path.hpp"

namespace domus::store {
namespace {

bool has(std::uint8_t access, std::uint8_t wanted) {
    return (access & wanted) == wanted;
}

// Walks up from a missing `path` to its nearest existing ancestor ("/" always exists)
// and collects the missing paths, nearest-to-root last.
const Node* nearest_ancestor(TreeView& view, const std::string& path,
                             std::vector<std::string>* missing) {
    std::string current = path;
    while (true) {
        if (missing) missing->push_back(current);
        current = std::string(parent_path(current));
        if (const Node* node = view.find(current)) return node;
        if (current == "/") return nullptr;  // only if the tree lost its root
    }
}

// ENOENT or EACCES for a missing node, from the nearest ancestor's read access.
Error missing_node_error(OpContext& op, const std::string& path) {
    const Node* ancestor = nearest_ancestor(op.view, path, nullptr);
    if (ancestor && !has(access_for(ancestor->perms, op.caller), kAccessRead))
        return xs_error(XsError::Acces);
    return xs_error(XsError::NoEnt);
}

// The node at `path` if the caller has `wanted` access to it.
Result<const Node*> checked_node(OpContext& op, const std::string& path, std::uint8_t wanted) {
    const Node* node = op.view.find(path);
    if (!node) return missing_node_error(op, path);
    if (!has(access_for(node->perms, op.caller), wanted)) return xs_error(XsError::Acces);
    return node;
}

bool size_ok(const OpContext& op, const Node& node) {
    return op.caller.privileged || op.quotas.node_size == 0 ||
           node.accounted_size() <= op.quotas.node_size;
}

// Creates `path` and its missing ancestors; `value` goes to `path` only.
Result<void> create(OpContext& op, const std::string& path, std::string_view value) {
    std::vector<std::string> missing;
    const Node* ancestor = nearest_ancestor(op.view, path, &missing);
    if (!ancestor) return xs_error(XsError::Io);
    if (!has(access_for(ancestor->perms, op.caller), kAccessWrite)) return xs_error(XsError::Acces);

    PermissionList perms = ancestor->perms;
    if (!op.caller.privileged) perms.front().domid = op.caller.domid;
    if (!op.caller.privileged && op.quotas.nodes_per_domain != 0 &&
        op.view.owned_nodes(perms.front().domid) + missing.size() > op.quotas.nodes_per_domain)
        return xs_error(XsError::NoSpc);

    const std::string& top = missing.back();  // the child the ancestor gains
    Node grown_ancestor = *ancestor;
    grown_ancestor.children.emplace_back(base_name(top));
    Node leaf{std::string(value), perms, {}, 0};
    if (!size_ok(op, grown_ancestor) || !size_ok(op, leaf)) return xs_error(XsError::NoSpc);

    op.view.put(std::string(parent_path(top)), std::move(grown_ancestor));
    for (std::size_t i = missing.size(); i-- > 1;) {  // intermediate nodes, root side first
        Node middle{{}, perms, {std::string(base_name(missing[i - 1]))}, 0};
        op.view.put(missing[i], std::move(middle));
    }
    op.view.put(path, std::move(leaf));
    op.changes.push_back(Change{path, perms, {}, false});
    return {};
}

void erase_recursive(TreeView& view, const std::string& path) {
    const Node* node = view.find(path);
    if (!node) return;
    std::vector<std::string> children = node->children;
    for (const auto& child : children)
        erase_recursive(view, path == "/" ? "/" + child : path + "/" + child);
    view.erase(path);
}

}  // namespace

Result<const Node*> read_node(OpContext& op, const std::string& path) {
    return checked_node(op, path, kAccessRead);
}

Result<std::string> read_value(OpContext& op, const std::string& path) {
    DOMUS_TRY(node, checked_node(op, path, kAccessRead));
    return node->value;
}

Result<PermissionList> get_perms(OpContext& op, const std::string& path) {
    DOMUS_TRY(node, checked_node(op, path, kAccessRead));
    return node->perms;
}

Result<void> write_value(OpContext& op, const std::string& path, std::string_view value) {
    const Node* node = op.view.find(path);
    if (!node) {
        // The ancestor walk decides: EACCES if it may not even be read.
        Error error = missing_node_error(op, path);
        if (xs_error_of(error) != XsError::NoEnt) return error;
        return create(op, path, value);
    }
    if (!has(access_for(node->perms, op.caller), kAccessWrite)) return xs_error(XsError::Acces);
    Node updated = *node;
    updated.value.assign(value);
    if (!size_ok(op, updated)) return xs_error(XsError::NoSpc);
    PermissionList perms = updated.perms;
    op.view.put(path, std::move(updated));
    op.changes.push_back(Change{path, std::move(perms), {}, false});
    return {};
}

Result<void> make_directory(OpContext& op, const std::string& path) {
    const Node* node = op.view.find(path);
    if (!node) {
        Error error = missing_node_error(op, path);
        if (xs_error_of(error) != XsError::NoEnt) return error;
        return create(op, path, {});
    }
    if (!has(access_for(node->perms, op.caller), kAccessWrite)) return xs_error(XsError::Acces);
    return {};
}

Result<void> remove_subtree(OpContext& op, const std::string& path) {
    if (path == "/") return xs_error(XsError::Inval);
    const Node* node = op.view.find(path);
    if (!node) {
        Error error = missing_node_error(op, path);
        if (xs_error_of(error) != XsError::NoEnt) return error;
        // Absent is fine if the parent exists; otherwise ENOENT.
        if (op.view.find(std::string(parent_path(path)))) return {};
        return error;
    }
    if (!has(access_for(node->perms, op.caller), kAccessWrite)) return xs_error(XsError::Acces);
    PermissionList perms = node->perms;

    std::string parent_name(parent_path(path));
    const Node* parent = op.view.find(parent_name);
    if (!parent) return xs_error(XsError::Io);  // tree invariant: parents exist
    Node shrunk = *parent;
    auto name = base_name(path);
    std::erase_if(shrunk.children, [&](const std::string& child) { return child == name; });

    erase_recursive(op.view, path);
    op.view.put(parent_name, std::move(shrunk));
    op.changes.push_back(Change{path, std::move(perms), {}, true});
    return {};
}

Result<void> set_perms(OpContext& op, const std::string& path, PermissionList perms) {
    if (perms.empty()) return xs_error(XsError::Inval);
    if (!op.caller.privileged && op.quotas.permissions_per_node != 0 &&
        perms.size() > op.quotas.permissions_per_node)
        return xs_error(XsError::NoSpc);
    DOMUS_TRY(node, checked_node(op, path, kAccessWrite | kAccessOwner));
    if (!op.caller.privileged && perms.front().domid != node->owner())
        return xs_error(XsError::Perm);
    Node updated = *node;
    PermissionList old_perms = std::move(updated.perms);
    updated.perms = perms;
    op.view.put(path, std::move(updated));
    op.changes.push_back(Change{path, std::move(perms), std::move(old_perms), false});
    return {};
}

}  // namespace domus::store
