// A transaction: a copy-on-write view over the committed tree. Reads go to the
// transaction's own writes first, then to the nodes it has read before, then to the
// tree; every node read from the tree is kept as it was then, with its generation
// (0 = absent), so the transaction sees one consistent view, as C xenstored gives it:
// a node keeps the value it had when the transaction first read it (or the value the
// transaction wrote), whatever others write meanwhile. Commit fails with
// EAGAIN if any of those nodes has changed since, like C xenstored's per-node
// generation check. Operations read every node they write (permissions, parents),
// so written nodes are effectively checked too: stricter than xenstored, which the
// protocol allows.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "store/node_tree.hpp"
#include "store/watches.hpp"

namespace domus::store {

class Transaction final : public TreeView {
public:
    Transaction(NodeTree& tree, std::uint32_t id) : tree_(tree), id_(id) {}

    std::uint32_t id() const noexcept { return id_; }

    const Node* find(std::string_view path) override;
    void put(const std::string& path, Node node) override;
    void erase(const std::string& path) override;
    std::size_t owned_nodes(DomainId domid) const override;

    // Distinct nodes read or written so far (the "transaction-nodes" quota).
    std::size_t touched_nodes() const noexcept;

    // Watch events to fire if the transaction commits.
    std::vector<Change>& changes() noexcept { return changes_; }

    // Applies the writes to the tree, or fails with EAGAIN (nothing applied) if a node
    // read has changed. The transaction is finished either way.
    Result<void> commit();

private:
    NodeTree& tree_;
    std::uint32_t id_;
    struct Read {
        std::uint64_t generation;  // 0: absent
        std::optional<Node> node;  // as first read
    };
    std::map<std::string, Read, std::less<>> reads_;
    std::map<std::string, std::optional<Node>, std::less<>> writes_;  // nullopt = erased
    std::map<DomainId, long> owned_delta_;
    std::vector<Change> changes_;
    std::uint64_t local_generation_ = 0;
};

}  // namespace domus::store
