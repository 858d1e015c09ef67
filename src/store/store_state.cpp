// The Store's durable state: change tracking, the encoding of a journal record (what
// changed) or a snapshot (everything), and replaying them after a restart.
//
// A payload is a sequence of entries, each a tag byte and its fields (integers little
// endian, strings as a u32 length and bytes). Every entry states an absolute value:
//   'N' node: path, value, perms, children, generation     'E' node erased: path
//   'C' connection: id, domid, privileged, last tx id, watches
//   'R' its last reply record                               'X' connection closed: id
//   'D' domain record                                       'G' domain released: domid
//   'T' all SET_TARGET pairs   'S' both special paths' perms   'g' generation, next id
#include <algorithm>
#include <cstring>

#include "store/store.hpp"

namespace domus::store {
namespace {

class Writer {
public:
    explicit Writer(std::string& out) : out_(out) {}
    void u8(std::uint8_t value) { out_.push_back(char(value)); }
    void u32(std::uint32_t value) { raw(&value, sizeof(value)); }
    void u64(std::uint64_t value) { raw(&value, sizeof(value)); }
    void str(std::string_view text) {
        u32(std::uint32_t(text.size()));
        out_.append(text);
    }
    void perms(const PermissionList& list) {
        u32(std::uint32_t(list.size()));
        for (const auto& permission : list) {
            u32(permission.domid);
            u8(permission.access);
        }
    }

private:
    void raw(const void* data, std::size_t size) {
        out_.append(static_cast<const char*>(data), size);  // hosts are little endian
    }
    std::string& out_;
};

// Reads fields; any read past the end sets failed() and returns zeros.
class Reader {
public:
    explicit Reader(std::string_view in) : in_(in) {}
    bool done() const noexcept { return at_ >= in_.size(); }
    bool failed() const noexcept { return failed_; }
    std::uint8_t u8() {
        std::uint8_t value = 0;
        raw(&value, 1);
        return value;
    }
    std::uint32_t u32() {
        std::uint32_t value = 0;
        raw(&value, sizeof(value));
        return value;
    }
    std::uint64_t u64() {
        std::uint64_t value = 0;
        raw(&value, sizeof(value));
        return value;
    }
    std::string str() {
        std::uint32_t size = u32();
        if (failed_ || size > in_.size() - at_) {
            failed_ = true;
            return {};
        }
        std::string text(in_.substr(at_, size));
        at_ += size;
        return text;
    }
    PermissionList perms() {
        PermissionList list;
        std::uint32_t count = u32();
        for (std::uint32_t i = 0; i < count && !failed_; ++i) {
            auto domid = DomainId(u32());
            list.push_back(Permission{domid, u8()});
        }
        return list;
    }

private:
    void raw(void* data, std::size_t size) {
        if (failed_ || size > in_.size() - at_) {
            failed_ = true;
            return;
        }
        std::memcpy(data, in_.data() + at_, size);
        at_ += size;
    }
    std::string_view in_;
    std::size_t at_ = 0;
    bool failed_ = false;
};

void write_node(Writer& w, const std::string& path, const Node& node) {
    w.u8('N');
    w.str(path);
    w.str(node.value);
    w.perms(node.perms);
    w.u32(std::uint32_t(node.children.size()));
    for (const auto& child : node.children)
        w.str(child);
    w.u64(node.generation);
}

void write_connection(Writer& w, const Connection& c, std::uint32_t last_tx,
                      const std::vector<Watch>& watches) {
    w.u8('C');
    w.u64(c.id());
    w.u32(c.domid());
    w.u8(c.privileged() ? 1 : 0);
    w.u32(last_tx);
    w.u32(std::uint32_t(watches.size()));
    for (const auto& watch : watches) {
        w.str(watch.path);
        w.str(watch.token);
        w.u8(watch.relative ? 1 : 0);
    }
}

void write_reply(Writer& w, ConnectionId id, const ReplyRecord& r) {
    w.u8('R');
    w.u64(id);
    w.str(r.request);
    w.str(r.reply);
    w.u8(r.ring ? 1 : 0);
    w.u32(r.req_cons_after);
    w.u32(r.rsp_prod_before);
}

void write_domain(Writer& w, const DomainRecord& d) {
    w.u8('D');
    w.u32(d.domid);
    w.u64(d.ring_gfn);
    w.u32(d.event_port);
    w.u8(d.release_fired ? 1 : 0);
}

}  // namespace

void Store::track_changes(bool on) {
    tracking_ = on;
    tree_.set_change_log(on ? &changed_nodes_ : nullptr);
}

Connection* Store::find_connection(ConnectionId id) {
    for (Connection& connection : connections_)
        if (connection.id() == id) return &connection;
    return nullptr;
}

void Store::set_last_reply(Connection& connection, ReplyRecord record) {
    connection.last_reply_ = std::move(record);
    if (tracking_) dirty_replies_.insert(connection.id());
}

std::string Store::take_changes() {
    std::string out;
    Writer w(out);
    std::vector<std::string> nodes;
    nodes.swap(changed_nodes_);
    std::sort(nodes.begin(), nodes.end());
    nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
    for (const auto& path : nodes) {
        if (const Node* node = tree_.lookup(path)) {
            write_node(w, path, *node);
        } else {
            w.u8('E');
            w.str(path);
        }
    }
    for (ConnectionId id : dirty_connections_) {
        Connection* c = find_connection(id);
        if (!c) continue;
        write_connection(w, *c, c->last_transaction_id_, c->watches_.all());
    }
    dirty_connections_.clear();
    for (ConnectionId id : dirty_replies_) {
        Connection* c = find_connection(id);
        if (c && c->last_reply_) write_reply(w, id, *c->last_reply_);
    }
    dirty_replies_.clear();
    for (ConnectionId id : closed_connections_) {
        w.u8('X');
        w.u64(id);
    }
    closed_connections_.clear();
    for (DomainId domid : dirty_domains_) {
        if (auto it = domains_.find(domid); it != domains_.end()) {
            write_domain(w, it->second);
        } else {
            w.u8('G');
            w.u32(domid);
        }
    }
    dirty_domains_.clear();
    if (targets_dirty_) {
        w.u8('T');
        w.u32(std::uint32_t(targets_.size()));
        for (auto [domid, target] : targets_) {
            w.u32(domid);
            w.u32(target);
        }
        targets_dirty_ = false;
    }
    if (special_dirty_) {
        w.u8('S');
        w.u32(std::uint32_t(special_perms_.size()));
        for (const auto& [path, perms] : special_perms_) {
            w.str(path);
            w.perms(perms);
        }
        special_dirty_ = false;
    }
    if (!out.empty()) {
        w.u8('g');
        w.u64(tree_.next_generation());
        w.u64(next_connection_id_);
    }
    return out;
}

std::string Store::encode_state() const {
    std::string out;
    Writer w(out);
    for (const auto& [path, node] : tree_.nodes())
        write_node(w, path, node);
    for (const Connection& c : connections_) {
        write_connection(w, c, c.last_transaction_id_, c.watches_.all());
        if (c.last_reply_) write_reply(w, c.id(), *c.last_reply_);
    }
    for (const auto& [domid, record] : domains_)
        write_domain(w, record);
    w.u8('T');
    w.u32(std::uint32_t(targets_.size()));
    for (auto [domid, target] : targets_) {
        w.u32(domid);
        w.u32(target);
    }
    w.u8('S');
    w.u32(std::uint32_t(special_perms_.size()));
    for (const auto& [path, perms] : special_perms_) {
        w.str(path);
        w.perms(perms);
    }
    w.u8('g');
    w.u64(tree_.next_generation());
    w.u64(next_connection_id_);
    return out;
}

Result<void> Store::apply_state(std::string_view payload) {
    Reader r(payload);
    while (!r.done() && !r.failed()) {
        std::uint8_t tag = r.u8();
        switch (tag) {
            case 'N': {
                std::string path = r.str();
                Node node;
                node.value = r.str();
                node.perms = r.perms();
                std::uint32_t count = r.u32();
                for (std::uint32_t i = 0; i < count && !r.failed(); ++i)
                    node.children.push_back(r.str());
                node.generation = r.u64();
                if (r.failed() || node.perms.empty() || node.generation == 0) break;
                tree_.restore(path, std::move(node));
                break;
            }
            case 'E':
                if (std::string path = r.str(); !r.failed()) tree_.restore_erase(path);
                break;
            case 'C': {
                ConnectionId id = r.u64();
                ConnectionConfig config{DomainId(r.u32()), r.u8() != 0};
                std::uint32_t last_tx = r.u32();
                std::vector<Watch> watches;
                std::uint32_t count = r.u32();
                for (std::uint32_t i = 0; i < count && !r.failed(); ++i) {
                    Watch watch;
                    watch.path = r.str();
                    watch.token = r.str();
                    watch.relative = r.u8() != 0;
                    watches.push_back(std::move(watch));
                }
                if (r.failed() || id < kFirstConnectionId) break;
                Connection* c = find_connection(id);
                if (!c) {
                    c = &connect(config, id);
                    c->claimed_ = false;
                }
                c->last_transaction_id_ = last_tx;
                c->aborted_transactions_upto_ = last_tx;
                c->transactions_.clear();
                c->watches_.clear();
                for (auto& watch : watches)
                    (void)c->watches_.add(std::move(watch), 0);
                break;
            }
            case 'R': {
                ConnectionId id = r.u64();
                ReplyRecord record;
                record.request = r.str();
                record.reply = r.str();
                record.ring = r.u8() != 0;
                record.req_cons_after = r.u32();
                record.rsp_prod_before = r.u32();
                if (r.failed()) break;
                if (Connection* c = find_connection(id)) c->last_reply_ = std::move(record);
                break;
            }
            case 'X': {
                ConnectionId id = r.u64();
                if (Connection* c = r.failed() ? nullptr : find_connection(id)) disconnect(*c);
                break;
            }
            case 'D': {
                DomainRecord record;
                record.domid = DomainId(r.u32());
                record.ring_gfn = r.u64();
                record.event_port = r.u32();
                record.release_fired = r.u8() != 0;
                if (!r.failed()) domains_[record.domid] = record;
                break;
            }
            case 'G': {
                auto domid = DomainId(r.u32());
                if (!r.failed()) domains_.erase(domid);
                break;
            }
            case 'T': {
                std::map<DomainId, DomainId> targets;
                std::uint32_t count = r.u32();
                for (std::uint32_t i = 0; i < count && !r.failed(); ++i) {
                    auto domid = DomainId(r.u32());
                    targets[domid] = DomainId(r.u32());
                }
                if (!r.failed()) targets_ = std::move(targets);
                break;
            }
            case 'S': {
                std::uint32_t count = r.u32();
                for (std::uint32_t i = 0; i < count && !r.failed(); ++i) {
                    std::string path = r.str();
                    PermissionList perms = r.perms();
                    auto it = special_perms_.find(path);
                    if (!r.failed() && it != special_perms_.end() && !perms.empty())
                        it->second = std::move(perms);
                }
                break;
            }
            case 'g': {
                std::uint64_t generation = r.u64();
                ConnectionId next = r.u64();
                if (r.failed()) break;
                tree_.set_next_generation(generation);
                if (next > next_connection_id_) next_connection_id_ = next;
                break;
            }
            default:
                return xs_error(XsError::Inval);
        }
    }
    if (r.failed()) return xs_error(XsError::Inval);
    return {};
}

Connection* Store::adopt(ConnectionId id) {
    Connection* c = find_connection(id);
    if (c) c->claimed_ = true;
    return c;
}

std::vector<ConnectionId> Store::drop_unclaimed() {
    std::vector<ConnectionId> dropped;
    for (auto it = connections_.begin(); it != connections_.end();) {
        Connection& c = *it++;  // disconnect erases it
        if (c.claimed_) continue;
        dropped.push_back(c.id());
        disconnect(c);
    }
    return dropped;
}

void Store::fire_all_watches() {
    for (Connection& connection : connections_) {
        std::string home = domain_home(connection.domid());
        for (const Watch& watch : connection.watches_.all()) {
            std::string_view path =
                watch.relative ? relative_to_home(watch.path, home) : std::string_view(watch.path);
            if (fits_watch_event(path, watch.token))
                queue_event(connection, make_watch_event(path, watch.token));
        }
    }
}

std::vector<DomainId> Store::domain_ids() const {
    std::vector<DomainId> ids;
    for (const auto& [domid, record] : domains_)
        ids.push_back(domid);
    return ids;
}

}  // namespace domus::store
