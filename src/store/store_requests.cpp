// The request handlers of Store: node operations (directly or in a transaction),
// watches, transactions and the domain table.
#include "store/store.hpp"

#include "store/tree_ops.hpp"

namespace domus::store {
namespace {

std::string with_nul(std::string text) {
    text += '\0';
    return text;
}

Result<DomainId> parse_domid(std::string_view text) {
    DOMUS_TRY(value, parse_decimal(text, 0xFFFF));
    return static_cast<DomainId>(value);
}

std::string format_perms(const PermissionList& perms) {
    std::string out;
    for (const auto& permission : perms)
        out += with_nul(format_permission(permission));
    return out;
}

Result<PermissionList> parse_perms(const std::vector<std::string_view>& strings) {
    PermissionList perms;
    for (std::size_t i = 1; i < strings.size(); ++i) {
        DOMUS_TRY(permission, parse_permission(strings[i]));
        perms.push_back(permission);
    }
    return perms;
}

}  // namespace

Result<std::string> Store::node_request(Connection& connection, const Message& request) {
    Transaction* transaction = nullptr;
    if (request.tx_id != 0) {
        transaction = connection.transactions_.at(request.tx_id).get();  // checked by dispatch
        if (!connection.privileged() && quotas_.nodes_per_transaction != 0 &&
            transaction->touched_nodes() >= quotas_.nodes_per_transaction)
            return xs_error(XsError::NoSpc);
    }
    const std::string_view payload = request.payload;

    // Split the arguments: the path, and what follows it.
    std::string_view raw_path;
    std::vector<std::string_view> strings;
    std::string_view value;
    if (request.type == XS_WRITE) {
        DOMUS_TRY(split, split_path_value(payload));
        raw_path = split.first;
        value = split.second;
    } else if (request.type == XS_SET_PERMS) {
        DOMUS_TRY(all, split_all_strings(payload));
        if (all.size() < 2) return xs_error(XsError::Inval);
        strings = std::move(all);
        raw_path = strings[0];
    } else {
        DOMUS_TRY(args, split_strings(payload, request.type == XS_DIRECTORY_PART ? 2 : 1));
        strings = std::move(args);
        raw_path = strings[0];
    }
    bool special_ok = request.type == XS_GET_PERMS || request.type == XS_SET_PERMS;
    DOMUS_TRY(resolved, path_argument(connection, raw_path, special_ok));
    if (is_special_path(resolved.path))
        return special_perms_request(connection, request, resolved.path);
    const std::string& path = resolved.path;

    TreeView& view = transaction ? static_cast<TreeView&>(*transaction) : tree_;
    Caller caller = caller_of(connection);
    std::vector<Change> changes;
    OpContext op{view, caller, quotas_, changes};
    Result<std::string> reply = std::string();
    switch (request.type) {
        case XS_READ:
            reply = read_value(op, path);
            break;
        case XS_DIRECTORY: {
            DOMUS_TRY(node, read_node(op, path));
            reply = pack_strings(node->children);
            break;
        }
        case XS_DIRECTORY_PART: {
            DOMUS_TRY(offset, parse_decimal(strings[1], UINT32_MAX));
            DOMUS_TRY(node, read_node(op, path));
            reply = directory_part(node->generation, node->children, offset);
            break;
        }
        case XS_GET_PERMS: {
            DOMUS_TRY(perms, get_perms(op, path));
            reply = format_perms(perms);
            break;
        }
        case XS_WRITE:
            DOMUS_TRY_VOID(write_value(op, path, value));
            break;
        case XS_MKDIR:
            DOMUS_TRY_VOID(make_directory(op, path));
            break;
        case XS_RM:
            DOMUS_TRY_VOID(remove_subtree(op, path));
            break;
        case XS_SET_PERMS: {
            DOMUS_TRY(perms, parse_perms(strings));
            DOMUS_TRY_VOID(set_perms(op, path, std::move(perms)));
            break;
        }
    }
    if (!reply) return reply;
    bool modifies = request.type == XS_WRITE || request.type == XS_MKDIR || request.type == XS_RM ||
                    request.type == XS_SET_PERMS;
    if (modifies) reply = with_nul("OK");
    if (transaction) {
        for (auto& change : changes)
            transaction->changes().push_back(std::move(change));
    } else {
        for (const auto& change : changes)
            fire(change);
    }
    return reply;
}

Result<std::string> Store::special_perms_request(Connection& connection, const Message& request,
                                                 const std::string& path) {
    PermissionList& perms = special_perms_.find(path)->second;
    if (request.type == XS_GET_PERMS) return format_perms(perms);
    // SET_PERMS: the owner (dom0 unless changed) or a privileged caller.
    if (!(access_for(perms, caller_of(connection)) & kAccessOwner)) return xs_error(XsError::Acces);
    DOMUS_TRY(all, split_all_strings(request.payload));
    DOMUS_TRY(parsed, parse_perms(all));
    if (!connection.privileged() && parsed.front().domid != perms.front().domid)
        return xs_error(XsError::Perm);
    perms = std::move(parsed);
    special_dirty_ = tracking_;
    return with_nul("OK");
}

Result<std::string> Store::watch_request(Connection& connection, const Message& request) {
    mark(connection);
    if (request.type == XS_RESET_WATCHES) {
        connection.watches_.clear();
        connection.transactions_.clear();
        return with_nul("OK");
    }
    DOMUS_TRY(args, split_strings(request.payload, 2));
    DOMUS_TRY(resolved, path_argument(connection, args[0], true));
    if (request.type == XS_UNWATCH) {
        DOMUS_TRY_VOID(connection.watches_.remove(resolved.path, args[1]));
        return with_nul("OK");
    }
    if (!fits_watch_event(args[0], args[1])) return xs_error(XsError::TooBig);
    std::size_t limit = connection.privileged() ? 0 : quotas_.watches_per_connection;
    DOMUS_TRY_VOID(connection.watches_.add(
        Watch{resolved.path, std::string(args[1]), resolved.relative}, limit));
    // The initial event, with the path as the client wrote it, follows the OK.
    queue_event(connection, make_watch_event(args[0], args[1]));
    return with_nul("OK");
}

Result<std::string> Store::transaction_start(Connection& connection, const Message& request) {
    if (request.tx_id != 0) return xs_error(XsError::Busy);  // dispatch ruled out unknown ids
    if (!connection.privileged() && quotas_.transactions_per_connection != 0 &&
        connection.transactions_.size() >= quotas_.transactions_per_connection)
        return xs_error(XsError::NoSpc);
    std::uint32_t id = connection.last_transaction_id_;
    do {
        ++id;
    } while (id == 0 || connection.transactions_.contains(id));
    connection.last_transaction_id_ = id;
    mark(connection);
    connection.transactions_.emplace(id, std::make_unique<Transaction>(tree_, id));
    return with_nul(std::to_string(id));
}

Result<std::string> Store::transaction_end(Connection& connection, const Message& request) {
    DOMUS_TRY(args, split_strings(request.payload, 1));
    if (args[0] != "T" && args[0] != "F") return xs_error(XsError::Inval);
    auto it = connection.transactions_.find(request.tx_id);
    if (request.tx_id == 0 || it == connection.transactions_.end()) return xs_error(XsError::NoEnt);
    std::unique_ptr<Transaction> transaction = std::move(it->second);
    connection.transactions_.erase(it);
    if (args[0] == "F") return with_nul("OK");
    DOMUS_TRY_VOID(transaction->commit());
    for (const auto& change : transaction->changes())
        fire(change);
    return with_nul("OK");
}

Result<std::string> Store::domain_request(Connection&, const Message& request) {
    switch (request.type) {
        case XS_INTRODUCE: {
            DOMUS_TRY(args, split_strings(request.payload, 3));
            DOMUS_TRY(domid, parse_domid(args[0]));
            DOMUS_TRY(gfn, parse_decimal(args[1], UINT64_MAX));
            DOMUS_TRY(port, parse_decimal(args[2], UINT32_MAX));
            if (domid == 0 || domid >= DOMID_FIRST_RESERVED) return xs_error(XsError::Inval);
            auto [it, fresh] = domains_.try_emplace(domid);
            it->second.domid = domid;
            it->second.ring_gfn = gfn;
            it->second.event_port = static_cast<std::uint32_t>(port);
            mark_domain(domid);
            domain_changes_.push_back({DomainChange::Kind::Introduced, it->second});
            // A re-INTRODUCE only rebinds the port (as in xenstored): no new event.
            if (fresh) fire(Change{std::string(kIntroduceDomain), {}, {}, false});
            return with_nul("OK");
        }
        case XS_RELEASE: {
            DOMUS_TRY(args, split_strings(request.payload, 1));
            DOMUS_TRY(domid, parse_domid(args[0]));
            auto it = domains_.find(domid);
            if (it == domains_.end()) return xs_error(XsError::NoEnt);
            domain_changes_.push_back({DomainChange::Kind::Released, it->second});
            domains_.erase(it);
            targets_.erase(domid);
            mark_domain(domid);
            targets_dirty_ = tracking_;
            fire(Change{std::string(kReleaseDomain), {}, {}, false});
            return with_nul("OK");
        }
        case XS_GET_DOMAIN_PATH: {
            DOMUS_TRY(args, split_strings(request.payload, 1));
            DOMUS_TRY(domid, parse_domid(args[0]));
            return with_nul(domain_home(domid));
        }
        case XS_IS_DOMAIN_INTRODUCED: {
            DOMUS_TRY(args, split_strings(request.payload, 1));
            DOMUS_TRY(domid, parse_domid(args[0]));
            return with_nul(domid == 0 || domains_.contains(domid) ? "T" : "F");
        }
        case XS_RESUME: {
            DOMUS_TRY(args, split_strings(request.payload, 1));
            DOMUS_TRY(domid, parse_domid(args[0]));
            auto it = domains_.find(domid);
            if (it == domains_.end()) return xs_error(XsError::NoEnt);
            it->second.release_fired = false;
            mark_domain(domid);
            return with_nul("OK");
        }
        case XS_SET_TARGET: {
            DOMUS_TRY(args, split_strings(request.payload, 2));
            DOMUS_TRY(domid, parse_domid(args[0]));
            DOMUS_TRY(target, parse_domid(args[1]));
            targets_[domid] = target;
            targets_dirty_ = tracking_;
            return with_nul("OK");
        }
    }
    return xs_error(XsError::NoSys);
}

}  // namespace domus::store
