// The committed XenStore tree: nodes keyed by absolute path, each with a value,
// a permission list, its children's names and a generation count; plus TreeView,
// the interface operations use so that they run the same on the tree and inside a
// transaction's copy-on-write view.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "store/permissions.hpp"

namespace domus::store {

struct Node {
    std::string value;                  // raw bytes, may be empty or binary
    PermissionList perms;               // never empty
    std::vector<std::string> children;  // leaf names, in creation order
    // Changes whenever this node's value, perms or child list changes (also when it is
    // deleted and re-created). 0 is never a valid generation: it stands for "absent".
    std::uint64_t generation = 0;

    DomainId owner() const noexcept { return perms.front().domid; }
    // Bytes counted against the node-size quota: value + perms + child names.
    std::size_t accounted_size() const noexcept;
};

// What operations read and write. find() results stay valid until the next put/erase.
class TreeView {
public:
    virtual ~TreeView() = default;
    virtual const Node* find(std::string_view path) = 0;
    virtual void put(const std::string& path, Node node) = 0;  // sets node.generation
    virtual void erase(const std::string& path) = 0;           // this node only
    virtual std::size_t owned_nodes(DomainId domid) const = 0;
};

// The committed tree. Starts with "/" owned by dom0 ("n0"). Single-threaded.
class NodeTree final : public TreeView {
public:
    NodeTree();

    const Node* find(std::string_view path) override { return lookup(path); }
    const Node* lookup(std::string_view path) const;
    void put(const std::string& path, Node node) override;
    void erase(const std::string& path) override;
    std::size_t owned_nodes(DomainId domid) const override;

    std::size_t size() const noexcept { return nodes_.size(); }
    // Checks the tree's invariants: every listed child exists, every node but "/" is
    // listed by its parent, and the per-domain counts match. For tests and debugging.
    bool consistent() const;
    // The generation the next put will get; strictly increasing.
    std::uint64_t next_generation() const noexcept { return next_generation_; }

    // Durability: while set, every put/erase appends its path to `log` (the store
    // journals those nodes' new state). restore() puts a node with its generation as
    // journaled, without logging; set_next_generation never goes backwards.
    void set_change_log(std::vector<std::string>* log) noexcept { change_log_ = log; }
    void restore(const std::string& path, Node node);
    void restore_erase(const std::string& path);
    void set_next_generation(std::uint64_t next) noexcept {
        if (next > next_generation_) next_generation_ = next;
    }
    const std::map<std::string, Node, std::less<>>& nodes() const noexcept { return nodes_; }

private:
    std::map<std::string, Node, std::less<>> nodes_;
    std::map<DomainId, std::size_t> owned_;
    std::uint64_t next_generation_ = 1;
    std::vector<std::string>* change_log_ = nullptr;
};

}  // namespace domus::store
