// The committed tree and its per-domain node accounting.
#include "store/node_tree.hpp"

#include <algorithm>

#include "store/path.hpp"

namespace domus::store {

std::size_t Node::accounted_size() const noexcept {
    // Xen counts sizeof(struct xs_permissions) per entry; a domid and a byte of bits.
    std::size_t size = value.size() + perms.size() * 4;
    for (const auto& child : children)
        size += child.size() + 1;
    return size;
}

NodeTree::NodeTree() {
    put("/", Node{{}, {Permission{0, kAccessNone}}, {}, 0});
}

const Node* NodeTree::lookup(std::string_view path) const {
    auto it = nodes_.find(path);
    return it == nodes_.end() ? nullptr : &it->second;
}

void NodeTree::put(const std::string& path, Node node) {
    node.generation = next_generation_++;
    if (change_log_) change_log_->push_back(path);
    auto it = nodes_.find(path);
    if (it != nodes_.end()) {
        --owned_[it->second.owner()];
        it->second = std::move(node);
        ++owned_[it->second.owner()];
    } else {
        ++owned_[node.owner()];
        nodes_.emplace(path, std::move(node));
    }
}

void NodeTree::erase(const std::string& path) {
    auto it = nodes_.find(path);
    if (it == nodes_.end()) return;
    if (change_log_) change_log_->push_back(path);
    --owned_[it->second.owner()];
    nodes_.erase(it);
}

void NodeTree::restore(const std::string& path, Node node) {
    restore_erase(path);
    set_next_generation(node.generation + 1);
    ++owned_[node.owner()];
    nodes_.insert_or_assign(path, std::move(node));
}

void NodeTree::restore_erase(const std::string& path) {
    auto it = nodes_.find(path);
    if (it == nodes_.end()) return;
    --owned_[it->second.owner()];
    nodes_.erase(it);
}

std::size_t NodeTree::owned_nodes(DomainId domid) const {
    auto it = owned_.find(domid);
    return it == owned_.end() ? 0 : it->second;
}

bool NodeTree::consistent() const {
    std::map<DomainId, std::size_t> owned;
    for (const auto& [path, node] : nodes_) {
        if (node.perms.empty() || node.generation == 0) return false;
        ++owned[node.owner()];
        for (const auto& child : node.children)
            if (!lookup(path == "/" ? "/" + child : path + "/" + child)) return false;
        if (path == "/") continue;
        const Node* parent = lookup(parent_path(path));
        if (!parent) return false;
        const auto& siblings = parent->children;
        if (std::count(siblings.begin(), siblings.end(), base_name(path)) != 1) return false;
    }
    for (const auto& [domid, count] : owned_)
        if (count != (owned.contains(domid) ? owned[domid] : 0)) return false;
    return true;
}

}  // namespace domus::store
