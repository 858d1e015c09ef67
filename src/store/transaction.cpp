// Copy-on-write transaction view and its commit-time conflict check.
#include "store/transaction.hpp"

#include "store/error.hpp"

namespace domus::store {

const Node* Transaction::find(std::string_view path) {
    if (auto it = writes_.find(path); it != writes_.end())
        return it->second ? &*it->second : nullptr;
    auto it = reads_.find(path);
    if (it == reads_.end()) {
        const Node* node = tree_.lookup(path);
        it = reads_
                 .emplace(std::string(path), Read{node ? node->generation : 0,
                                                  node ? std::optional<Node>(*node) : std::nullopt})
                 .first;
    }
    return it->second.node ? &*it->second.node : nullptr;
}

void Transaction::put(const std::string& path, Node node) {
    if (const Node* old = find(path)) --owned_delta_[old->owner()];
    ++owned_delta_[node.owner()];
    // Generations inside a transaction only need to differ from each other and from
    // the tree's (DIRECTORY_PART); the tree assigns real ones at commit.
    node.generation = (std::uint64_t{1} << 63) | ++local_generation_;
    writes_.insert_or_assign(path, std::optional<Node>(std::move(node)));
}

void Transaction::erase(const std::string& path) {
    if (const Node* old = find(path)) --owned_delta_[old->owner()];
    writes_.insert_or_assign(path, std::optional<Node>());
}

std::size_t Transaction::owned_nodes(DomainId domid) const {
    long count = static_cast<long>(tree_.owned_nodes(domid));
    if (auto it = owned_delta_.find(domid); it != owned_delta_.end()) count += it->second;
    return count < 0 ? 0 : static_cast<std::size_t>(count);
}

std::size_t Transaction::touched_nodes() const noexcept {
    std::size_t count = reads_.size();
    for (const auto& [path, node] : writes_)
        if (!reads_.contains(path)) ++count;
    return count;
}

Result<void> Transaction::commit() {
    for (const auto& [path, read] : reads_) {
        const Node* now = tree_.lookup(path);
        if ((now ? now->generation : 0) != read.generation) return xs_error(XsError::Again);
    }
    for (auto& [path, node] : writes_) {
        if (node)
            tree_.put(path, std::move(*node));
        else
            tree_.erase(path);
    }
    writes_.clear();
    return {};
}

}  // namespace domus::store
