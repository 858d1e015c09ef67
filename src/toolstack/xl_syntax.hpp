// The xl.cfg syntax pass: text to (key, Value) settings, each labelled with where it was
// read; no key has a meaning here (that is xl_semantics).
//
// Syntax (xl's, as in xl.cfg(5)): `key = value` settings ended by a newline or `;`;
// `#` starts a comment; a value is a number (decimal, 0x hex, 0 octal), a "double" or
// 'single' quoted string (escapes \\ \" \' \a \b \f \n \r \t \v \xHH \ooo, no newlines),
// or a `[ list, of, values ]` that may span lines, nest, and end with a trailing comma.
// Overrides use the same syntax, and there a bare word (`name=web1`) is a string.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.hpp"

namespace domus::toolstack {

// One configuration value as written. Numbers are kept as int64 (negative numbers do not
// exist in the syntax); lists are heterogeneous and may nest.
struct Value {
    std::variant<std::int64_t, std::string, std::vector<Value>> data;
    int line = 0;  // where the value starts in its file; 0 for command-line overrides

    // Equality compares the data only: the same value read from another line is equal.
    bool operator==(const Value& other) const { return data == other.data; }
};

namespace xl {

// One `key = value` as read, with the label that messages about it start with.
struct Setting {
    std::string key;
    Value value;
    std::string where;  // "idle.cfg:4", or "idle.cfg: override memory=64"
};

// The settings of a file's text, in file order; `label` (the file name) starts every
// label and message, followed by the line of the key.
Result<std::vector<Setting>> parse_settings(std::string_view text, std::string label);
// One command-line `key=value` (a bare word is a string there); `label` is the whole
// label of its settings and messages. At least one setting.
Result<std::vector<Setting>> parse_override_settings(std::string_view text, std::string label);

// A string in xl syntax: double quotes, with escapes for anything that is not printable.
std::string quote(std::string_view s);
// How messages show a value the user wrote: `"lots"`, `12`, `a list`.
std::string describe(const Value& v);
// Decimal, 0x hex or 0-prefixed octal, like strtol(..., 0) without a sign.
Result<std::int64_t> parse_number(std::string_view text);

inline bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
inline bool is_hex_digit(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
inline bool is_key_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
inline bool is_key_char(char c) {
    return is_key_start(c) || is_digit(c);
}
inline bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

}  // namespace xl
}  // namespace domus::toolstack
