// xl.cfg parsing in two passes: a syntax pass turns text into (key, Value) settings, then
// a semantic pass applies xl's defaults and Domus's limits to build a DomainSpec.
#include "toolstack/xl_config.hpp"

#include "config/channel_spec.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>

namespace domus::toolstack {
namespace {

// Deep enough for any real config; stops hostile input from exhausting the stack.
constexpr int kMaxListDepth = 32;
constexpr std::size_t kMaxNameLength = 64;

constexpr std::array<std::pair<std::string_view, Action>, 7> kActions{{
    {"destroy", Action::Destroy},
    {"restart", Action::Restart},
    {"preserve", Action::Preserve},
    {"rename-restart", Action::RenameRestart},
    {"coredump-destroy", Action::CoredumpDestroy},
    {"coredump-restart", Action::CoredumpRestart},
    {"soft-reset", Action::SoftReset},
}};

// One `key = value` as read, with the label that messages about it start with.
struct Setting {
    std::string key;
    Value value;
    std::string where;  // "idle.cfg:4", or "idle.cfg: override memory=64"
};

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_hex_digit(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_key_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_key_char(char c) {
    return is_key_start(c) || is_digit(c);
}
bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

// xl's one-letter escapes: the letter after the backslash and the byte it stands for.
constexpr std::array<std::pair<char, char>, 10> kEscapes{{
    {'"', '"'},
    {'\'', '\''},
    {'\\', '\\'},
    {'a', '\a'},
    {'b', '\b'},
    {'f', '\f'},
    {'n', '\n'},
    {'r', '\r'},
    {'t', '\t'},
    {'v', '\v'},
}};

// A string in xl syntax: double quotes, with escapes for anything that is not printable.
std::string quote(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        auto escape =
            std::find_if(kEscapes.begin(), kEscapes.end(), [c](auto e) { return e.second == c; });
        if (c != '\'' && escape != kEscapes.end()) {
            out += '\\';
            out += escape->first;
        } else if (u < 0x20 || u == 0x7f) {
            out += fmt::format("\\x{:02x}", u);
        } else {
            out += c;
        }
    }
    return out + "\"";
}

// How messages show a value the user wrote: `"lots"`, `12`, `a list`.
std::string describe(const Value& v) {
    if (auto* n = std::get_if<std::int64_t>(&v.data)) return std::to_string(*n);
    if (auto* s = std::get_if<std::string>(&v.data)) return quote(*s);
    return "a list";
}

// Decimal, 0x hex or 0-prefixed octal, like strtol(..., 0) without a sign.
Result<std::int64_t> parse_number(std::string_view text) {
    std::string_view digits = text;
    int base = 10;
    if (digits.size() > 1 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
        base = 16;
        digits.remove_prefix(2);
    } else if (digits.size() > 1 && digits[0] == '0') {
        base = 8;
        digits.remove_prefix(1);
    }
    std::uint64_t n = 0;
    // Unsigned from_chars accepts no sign, so "0x-5" is rejected with the rest.
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n, base);
    if (ec == std::errc::result_out_of_range ||
        (ec == std::errc{} && end == digits.data() + digits.size() &&
         n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))) {
        return make_error("number {} is out of range", text);
    }
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size()) {
        return make_error("invalid number {}", quote(text));
    }
    return static_cast<std::int64_t>(n);
}

// The syntax pass. In override mode a bare word is a string and messages carry no line.
class Parser {
public:
    Parser(std::string_view text, std::string label, bool override_mode)
        : text_(text), label_(std::move(label)), override_mode_(override_mode) {}

    Result<std::vector<Setting>> settings() {
        std::vector<Setting> out;
        for (;;) {
            skip_blanks();
            if (at_end()) return out;
            char c = peek();
            if (c == '\n' || c == ';') {
                advance();
                continue;
            }
            std::string where = here();
            if (!is_key_start(c)) {
                return make_error("{}: expected a key, got {}", where,
                                  quote(text_.substr(pos_, 1)));
            }
            std::size_t start = pos_;
            while (!at_end() && is_key_char(peek()))
                advance();
            std::string key(text_.substr(start, pos_ - start));
            skip_blanks();
            if (peek() != '=' || at_end()) {
                return make_error("{}: {}: expected '=' after the key", where, key);
            }
            advance();
            skip_blanks();
            DOMUS_TRY(value, parse_value(where, key, 0));
            skip_blanks();
            if (!at_end() && peek() != '\n' && peek() != ';') {
                return make_error("{}: {}: unexpected {} after the value", where, key,
                                  quote(text_.substr(pos_, 1)));
            }
            out.push_back(Setting{std::move(key), std::move(value), std::move(where)});
        }
    }

private:
    bool at_end() const { return pos_ >= text_.size(); }
    char peek() const { return at_end() ? '\0' : text_[pos_]; }
    void advance() {
        if (text_[pos_++] == '\n') ++line_;
    }
    std::string here() const {
        return override_mode_ ? label_ : fmt::format("{}:{}", label_, line_);
    }

    // Blanks and a comment, but not the newline that ends a statement.
    void skip_blanks() {
        while (!at_end() && is_blank(peek()))
            advance();
        if (peek() == '#' && !at_end()) {
            while (!at_end() && peek() != '\n')
                advance();
        }
    }
    // Inside a list newlines and comments are just space.
    void skip_list_space() {
        for (;;) {
            skip_blanks();
            if (at_end() || peek() != '\n') return;
            advance();
        }
    }

    Result<Value> parse_value(const std::string& where, const std::string& key, int depth) {
        Value v{.data = std::int64_t{0}, .line = override_mode_ ? 0 : line_};
        char c = peek();
        if (at_end() || c == '\n' || c == ';' || c == ',' || c == ']' || c == '#') {
            return make_error("{}: {}: expected a value", where, key);
        }
        if (c == '"' || c == '\'') {
            DOMUS_TRY(s, parse_string(where, key));
            v.data = std::move(s);
        } else if (c == '[') {
            DOMUS_TRY(list, parse_list(where, key, depth));
            v.data = std::move(list);
        } else {
            DOMUS_TRY(word, parse_word(where, key));
            v.data = std::move(word.data);
        }
        return v;
    }

    Result<std::vector<Value>> parse_list(const std::string& where, const std::string& key,
                                          int depth) {
        if (depth >= kMaxListDepth) {
            return make_error("{}: {}: lists nested deeper than {}", where, key, kMaxListDepth);
        }
        advance();  // '['
        std::vector<Value> items;
        for (;;) {
            skip_list_space();
            if (at_end()) return make_error("{}: {}: unterminated list (no ']')", where, key);
            if (peek() == ']') {
                advance();
                return items;
            }
            DOMUS_TRY(item, parse_value(where, key, depth + 1));
            items.push_back(std::move(item));
            skip_list_space();
            if (at_end()) return make_error("{}: {}: unterminated list (no ']')", where, key);
            if (peek() == ',') {
                advance();
            } else if (peek() != ']') {
                return make_error("{}: {}: expected ',' or ']' in the list, got {}", where, key,
                                  quote(text_.substr(pos_, 1)));
            }
        }
    }

    // Both quote kinds take the same escapes; a string never spans lines.
    Result<std::string> parse_string(const std::string& where, const std::string& key) {
        char quote_char = peek();
        advance();
        std::string out;
        for (;;) {
            if (at_end() || peek() == '\n') {
                return make_error("{}: {}: unterminated string", where, key);
            }
            char c = text_[pos_++];
            if (c == quote_char) return out;
            if (c == '\0')
                return make_error("{}: {}: a NUL byte is not allowed in a string", where, key);
            if (c != '\\') {
                out += c;
                continue;
            }
            if (at_end() || peek() == '\n') {
                return make_error("{}: {}: unterminated string", where, key);
            }
            char e = text_[pos_++];
            auto escape = std::find_if(kEscapes.begin(), kEscapes.end(),
                                       [e](auto x) { return x.first == e; });
            if (escape != kEscapes.end()) {
                out += escape->second;
            } else if (e == 'x') {
                if (pos_ + 2 > text_.size() || !is_hex_digit(text_[pos_]) ||
                    !is_hex_digit(text_[pos_ + 1])) {
                    return make_error("{}: {}: \\x in a string needs two hex digits", where, key);
                }
                int n = std::stoi(std::string(text_.substr(pos_, 2)), nullptr, 16);
                pos_ += 2;
                if (n == 0)
                    return make_error("{}: {}: NUL (\\x00) is not allowed in a string", where, key);
                out += static_cast<char>(n);
            } else if (e >= '0' && e <= '7') {
                int n = e - '0';
                for (int i = 0; i < 2 && !at_end() && peek() >= '0' && peek() <= '7'; ++i) {
                    n = n * 8 + (text_[pos_++] - '0');
                }
                if (n == 0)
                    return make_error("{}: {}: NUL (\\0) is not allowed in a string", where, key);
                if (n > 0xff) {
                    return make_error("{}: {}: octal escape \\{:o} is larger than a byte", where,
                                      key, n);
                }
                out += static_cast<char>(n);
            } else {
                return make_error("{}: {}: invalid escape {} in a string", where, key,
                                  quote(std::string{'\\', e}));
            }
        }
    }

    // An unquoted run: a number, or (overrides only) a bare-word string.
    Result<Value> parse_word(const std::string& where, const std::string& key) {
        std::size_t start = pos_;
        while (!at_end()) {
            char c = peek();
            if (is_blank(c) || c == '\n' || c == ',' || c == ';' || c == '[' || c == ']' ||
                c == '#' || c == '"' || c == '\'')
                break;
            advance();
        }
        std::string_view word = text_.substr(start, pos_ - start);
        if (word.empty()) {  // '[' cannot start a word; anything else reaching here does
            return make_error("{}: {}: expected a value", where, key);
        }
        if (is_digit(word[0])) {
            auto n = parse_number(word);
            if (!n) return make_error("{}: {}: {}", where, key, n.error().message);
            return Value{.data = *n};
        }
        if (word.size() > 1 && word[0] == '-' && is_digit(word[1])) {
            return make_error("{}: {}: negative numbers are not allowed, got {}", where, key, word);
        }
        if (!override_mode_) {
            return make_error("{}: {}: expected a number, a quoted string or a list, got {}", where,
                              key, word);
        }
        return Value{.data = std::string(word)};
    }

    std::string_view text_;
    std::string label_;
    bool override_mode_;
    std::size_t pos_ = 0;
    int line_ = 1;
};

Result<std::vector<Setting>> parse_override_settings(std::string_view text, std::string label) {
    DOMUS_TRY(settings, Parser(text, std::move(label), true).settings());
    if (settings.empty()) return make_error("override {}: expected key=value", quote(text));
    return settings;
}

// Appends an override as xl does (a later key wins). cmdline and extra are one setting
// under two names, so overriding either replaces both.
void merge_override(std::vector<Setting>& settings, Setting override) {
    if (override.key == "cmdline" || override.key == "extra") {
        std::erase_if(settings,
                      [](const Setting& s) { return s.key == "cmdline" || s.key == "extra"; });
    }
    settings.push_back(std::move(override));
}

// The semantic pass: reads the last value of each key and checks it.
class SpecBuilder {
public:
    SpecBuilder(const std::vector<Setting>& settings, std::string_view file) : file_(file) {
        for (const Setting& s : settings)
            last_[s.key] = &s;
        for (const Setting& s : settings) {
            if (last_[s.key] == &s) ordered_.push_back(&s);
        }
    }

    Result<ParsedConfig> build() {
        ParsedConfig out;
        DomainSpec& spec = out.spec;

        DOMUS_TRY(name, required_string("name"));
        DOMUS_TRY_VOID(check_name(*last_.at("name"), name));
        spec.name = std::move(name);
        DOMUS_TRY_VOID(check_type(out.warnings));

        DOMUS_TRY(memory, ranged("memory", 4, 65536, 32));
        DOMUS_TRY(maxmem, ranged("maxmem", 4, 65536, memory));
        if (maxmem < memory) return at("maxmem", "{} is less than memory ({})", maxmem, memory);
        DOMUS_TRY(vcpus, ranged("vcpus", 1, 64, 1));
        DOMUS_TRY(maxvcpus, ranged("maxvcpus", 1, 64, vcpus));
        if (maxvcpus < vcpus) return at("maxvcpus", "{} is less than vcpus ({})", maxvcpus, vcpus);
        spec.memory_mib = memory;
        spec.maxmem_mib = maxmem;
        spec.vcpus = vcpus;
        spec.maxvcpus = maxvcpus;

        DOMUS_TRY(kernel, required_string("kernel"));
        if (kernel.empty()) return at("kernel", "must not be empty");
        spec.kernel = std::move(kernel);
        DOMUS_TRY(cmdline, command_line());
        spec.cmdline = std::move(cmdline);

        if (find("uuid")) {
            DOMUS_TRY(uuid, string_of(*find("uuid")));
            if (!is_uuid(uuid)) return at("uuid", "{} is not 8-4-4-4-12 hex digits", quote(uuid));
            spec.uuid = std::move(uuid);
        }

        DOMUS_TRY(on_poweroff, action("on_poweroff", Action::Destroy));
        DOMUS_TRY(on_reboot, action("on_reboot", Action::Restart));
        DOMUS_TRY(on_crash, action("on_crash", Action::Destroy));
        DOMUS_TRY(on_watchdog, action("on_watchdog", Action::Destroy));
        spec.on_poweroff = on_poweroff;
        spec.on_reboot = on_reboot;
        spec.on_crash = on_crash;
        spec.on_watchdog = on_watchdog;

        DOMUS_TRY(disk, string_list("disk"));
        DOMUS_TRY(vif, string_list("vif"));
        spec.disk = std::move(disk);
        spec.vif = std::move(vif);
        DOMUS_TRY(channel, string_list("channel"));
        if (auto channels = config::parse_channel_specs(channel); !channels)
            return at("channel", "{}", channels.error().message);
        spec.channel = std::move(channel);

        for (const Setting* s : ordered_) {
            if (is_known(s->key)) continue;
            spec.extra_keys[s->key] = s->value;
            out.warnings.push_back(fmt::format("{}: {}: unknown key, ignored", s->where, s->key));
        }
        return out;
    }

private:
    static bool is_known(std::string_view key) {
        static constexpr std::array<std::string_view, 19> kKnown{
            "name",        "type",      "builder",  "memory",      "maxmem", "vcpus",
            "maxvcpus",    "kernel",    "cmdline",  "extra",       "root",   "uuid",
            "on_poweroff", "on_reboot", "on_crash", "on_watchdog", "disk",   "vif",
            "channel"};
        for (auto k : kKnown) {
            if (k == key) return true;
        }
        return false;
    }

    const Setting* find(const std::string& key) const {
        auto it = last_.find(key);
        return it == last_.end() ? nullptr : it->second;
    }

    template <class... Args>
    Error at(const Setting& s, fmt::format_string<Args...> format, Args&&... args) const {
        return make_error("{}: {}: {}", s.where, s.key,
                          fmt::format(format, std::forward<Args>(args)...));
    }
    template <class... Args>
    Error at(const std::string& key, fmt::format_string<Args...> format, Args&&... args) const {
        return at(*find(key), format, std::forward<Args>(args)...);
    }

    Result<std::string> string_of(const Setting& s) const {
        if (auto* str = std::get_if<std::string>(&s.value.data)) return *str;
        return at(s, "expected a string, got {}", describe(s.value));
    }

    Result<std::string> required_string(const std::string& key) const {
        const Setting* s = find(key);
        if (!s) return make_error("{}: {}: required key missing", file_, key);
        return string_of(*s);
    }

    // xl reads numbers through strtol, so a quoted "64" is a number too.
    Result<std::int64_t> number_of(const Setting& s) const {
        if (auto* n = std::get_if<std::int64_t>(&s.value.data)) return *n;
        if (auto* str = std::get_if<std::string>(&s.value.data)) {
            std::string_view t = *str;
            while (!t.empty() && (t.front() == ' ' || t.front() == '\t'))
                t.remove_prefix(1);
            while (!t.empty() && (t.back() == ' ' || t.back() == '\t'))
                t.remove_suffix(1);
            if (!t.empty() && is_digit(t[0])) {
                auto n = parse_number(t);
                if (!n) return at(s, "{}", n.error().message);
                return *n;
            }
        }
        return at(s, "expected a number, got {}", describe(s.value));
    }

    Result<std::uint32_t> ranged(const std::string& key, std::int64_t low, std::int64_t high,
                                 std::uint32_t fallback) const {
        const Setting* s = find(key);
        if (!s) return fallback;
        DOMUS_TRY(n, number_of(*s));
        if (n < low || n > high) return at(*s, "{} is out of range {}..{}", n, low, high);
        return static_cast<std::uint32_t>(n);
    }

    Result<void> check_name(const Setting& s, const std::string& name) const {
        if (name.empty()) return at(s, "must not be empty");
        if (name.size() > kMaxNameLength) {
            return at(s, "longer than {} characters", kMaxNameLength);
        }
        bool all_digits = true;
        for (char c : name) {
            bool ok = is_key_char(c) || c == '.' || c == '-';
            if (!ok) return at(s, "{} has a character outside [A-Za-z0-9_.-]", quote(name));
            all_digits = all_digits && is_digit(c);
        }
        // A numeric name would be taken for a domain ID by every command that takes either.
        if (all_digits) return at(s, "{} is all digits, which reads as a domain ID", quote(name));
        return {};
    }

    Result<void> check_type(std::vector<std::string>& warnings) const {
        if (const Setting* s = find("type")) {
            DOMUS_TRY(type, string_of(*s));
            if (type == "pvh" || type == "hvm") {
                return at(*s, "{} is not supported: Domus runs pv guests only", quote(type));
            }
            if (type != "pv") return at(*s, "{} is not one of pv, pvh, hvm", quote(type));
        }
        if (const Setting* s = find("builder")) {
            DOMUS_TRY(builder, string_of(*s));
            if (builder == "hvm") {
                return at(*s, "\"hvm\" is not supported: Domus runs pv guests only");
            }
            if (builder != "generic")
                return at(*s, "{} is not one of generic, hvm", quote(builder));
            warnings.push_back(
                fmt::format("{}: builder: deprecated, write type = \"pv\" instead", s->where));
        }
        return {};
    }

    // `cmdline` and `extra` name the same thing here; `root` adds "root=<root>".
    Result<std::string> command_line() const {
        const Setting* cmdline = find("cmdline");
        const Setting* extra = find("extra");
        if (cmdline && extra) {
            return at(*extra, "cannot be combined with cmdline ({})", cmdline->where);
        }
        std::string out;
        if (cmdline || extra) {
            DOMUS_TRY(base, string_of(cmdline ? *cmdline : *extra));
            out = std::move(base);
        }
        if (const Setting* root = find("root")) {
            DOMUS_TRY(device, string_of(*root));
            out += fmt::format("{}root={}", out.empty() ? "" : " ", device);
        }
        return out;
    }

    static bool is_uuid(std::string_view s) {
        static constexpr std::array<std::size_t, 5> kGroups{8, 4, 4, 4, 12};
        std::size_t pos = 0;
        for (std::size_t g = 0; g < kGroups.size(); ++g) {
            if (g > 0) {
                if (pos >= s.size() || s[pos] != '-') return false;
                ++pos;
            }
            for (std::size_t i = 0; i < kGroups[g]; ++i, ++pos) {
                if (pos >= s.size() || !is_hex_digit(s[pos])) return false;
            }
        }
        return pos == s.size();
    }

    Result<Action> action(const std::string& key, Action fallback) const {
        const Setting* s = find(key);
        if (!s) return fallback;
        DOMUS_TRY(text, string_of(*s));
        for (auto [name, value] : kActions) {
            if (name == text) return value;
        }
        std::string names;
        for (auto [name, value] : kActions)
            names += fmt::format("{}{}", names.empty() ? "" : ", ", name);
        return at(*s, "{} is not one of {}", quote(text), names);
    }

    Result<std::vector<std::string>> string_list(const std::string& key) const {
        std::vector<std::string> out;
        const Setting* s = find(key);
        if (!s) return out;
        auto* list = std::get_if<std::vector<Value>>(&s->value.data);
        if (!list) return at(*s, "expected a list of strings, got {}", describe(s->value));
        for (std::size_t i = 0; i < list->size(); ++i) {
            auto* str = std::get_if<std::string>(&(*list)[i].data);
            if (!str) {
                return at(*s, "item {}: expected a string, got {}", i + 1, describe((*list)[i]));
            }
            out.push_back(*str);
        }
        return out;
    }

    std::string_view file_;
    std::map<std::string, const Setting*> last_;
    std::vector<const Setting*> ordered_;  // last occurrences, in file order
};

void write_value(std::string& out, const Value& v) {
    if (auto* n = std::get_if<std::int64_t>(&v.data)) {
        out += std::to_string(*n);
    } else if (auto* s = std::get_if<std::string>(&v.data)) {
        out += quote(*s);
    } else {
        const auto& list = std::get<std::vector<Value>>(v.data);
        out += "[";
        for (std::size_t i = 0; i < list.size(); ++i) {
            out += i == 0 ? " " : ", ";
            write_value(out, list[i]);
        }
        out += " ]";
    }
}

void write_string_list(std::string& out, std::string_view key,
                       const std::vector<std::string>& items) {
    if (items.empty()) return;
    out += fmt::format("{} = [\n", key);
    for (const auto& item : items)
        out += fmt::format("    {},\n", quote(item));
    out += "]\n";
}

}  // namespace

std::string_view action_name(Action action) {
    for (auto [name, value] : kActions) {
        if (value == action) return name;
    }
    return "destroy";  // unreachable for valid enumerators
}

Result<ParsedConfig> parse_xl_config(std::string_view text, std::string_view file_name) {
    DOMUS_TRY(settings, Parser(text, std::string(file_name), false).settings());
    return SpecBuilder(settings, file_name).build();
}

Result<void> apply_override(DomainSpec& spec, std::string_view key_equals_value) {
    DOMUS_TRY(overrides, parse_override_settings(key_equals_value,
                                                 fmt::format("override {}", key_equals_value)));
    // Re-reading the spec's own text keeps one validation path for files and overrides.
    DOMUS_TRY(settings, Parser(to_xl_config(spec), "domain spec", false).settings());
    for (Setting& o : overrides) {
        if (o.key == "memory" && spec.maxmem_mib == spec.memory_mib) {
            std::erase_if(settings, [](const Setting& s) { return s.key == "maxmem"; });
        }
        if (o.key == "vcpus" && spec.maxvcpus == spec.vcpus) {
            std::erase_if(settings, [](const Setting& s) { return s.key == "maxvcpus"; });
        }
        merge_override(settings, std::move(o));
    }
    DOMUS_TRY(parsed, SpecBuilder(settings, "override").build());
    spec = std::move(parsed.spec);
    return {};
}

Result<ParsedConfig> load_xl_config(const std::string& path,
                                    const std::vector<std::string>& overrides) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return errno_error(fmt::format("cannot read {}", path));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return errno_error(fmt::format("cannot read {}", path));

    DOMUS_TRY(settings, Parser(text.str(), path, false).settings());
    for (const auto& o : overrides) {
        DOMUS_TRY(more, parse_override_settings(o, fmt::format("{}: override {}", path, o)));
        for (Setting& s : more)
            merge_override(settings, std::move(s));
    }
    return SpecBuilder(settings, path).build();
}

std::string resolve_kernel_path(const DomainSpec& spec, const std::string& config_dir) {
    if (spec.kernel.empty() || spec.kernel.front() == '/' || config_dir.empty()) {
        return spec.kernel;
    }
    return config_dir.back() == '/' ? config_dir + spec.kernel : config_dir + "/" + spec.kernel;
}

std::string to_xl_config(const DomainSpec& spec) {
    std::string out;
    out += fmt::format("name = {}\n", quote(spec.name));
    out += "type = \"pv\"\n";
    out += fmt::format("memory = {}\nmaxmem = {}\n", spec.memory_mib, spec.maxmem_mib);
    out += fmt::format("vcpus = {}\nmaxvcpus = {}\n", spec.vcpus, spec.maxvcpus);
    out += fmt::format("kernel = {}\n", quote(spec.kernel));
    if (!spec.cmdline.empty()) out += fmt::format("cmdline = {}\n", quote(spec.cmdline));
    if (spec.uuid) out += fmt::format("uuid = {}\n", quote(*spec.uuid));
    out += fmt::format("on_poweroff = \"{}\"\n", action_name(spec.on_poweroff));
    out += fmt::format("on_reboot = \"{}\"\n", action_name(spec.on_reboot));
    out += fmt::format("on_crash = \"{}\"\n", action_name(spec.on_crash));
    out += fmt::format("on_watchdog = \"{}\"\n", action_name(spec.on_watchdog));
    write_string_list(out, "disk", spec.disk);
    write_string_list(out, "vif", spec.vif);
    write_string_list(out, "channel", spec.channel);
    if (!spec.extra_keys.empty()) out += "# Keys Domus does not interpret, kept as written.\n";
    for (const auto& [key, value] : spec.extra_keys) {
        out += key + " = ";
        write_value(out, value);
        out += "\n";
    }
    return out;
}

}  // namespace domus::toolstack
