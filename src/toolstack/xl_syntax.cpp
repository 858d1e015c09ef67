// The xl.cfg syntax pass: text to (key, Value) settings, each labelled with its file and line.
#include "toolstack/xl_syntax.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>

namespace domus::toolstack::xl {
namespace {

// Deep enough for any real config; stops hostile input from exhausting the stack.
constexpr int kMaxListDepth = 32;

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

}  // namespace

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

std::string describe(const Value& v) {
    if (auto* n = std::get_if<std::int64_t>(&v.data)) return std::to_string(*n);
    if (auto* s = std::get_if<std::string>(&v.data)) return quote(*s);
    return "a list";
}

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

Result<std::vector<Setting>> parse_settings(std::string_view text, std::string label) {
    return Parser(text, std::move(label), false).settings();
}

Result<std::vector<Setting>> parse_override_settings(std::string_view text, std::string label) {
    DOMUS_TRY(settings, Parser(text, std::move(label), true).settings());
    if (settings.empty()) return make_error("override {}: expected key=value", quote(text));
    return settings;
}

}  // namespace domus::toolstack::xl
