// Result<T>: a value or an Error, shaped like C++23 std::expected so it can become one.
// Host code returns it wherever a caller must decide what a failure means.
#pragma once

#include <fmt/format.h>

#include <string>
#include <utility>
#include <variant>

namespace domus {

// A failure with a human-readable message; `code` carries an errno where one applies.
struct Error {
    std::string message;
    int code = 0;
};

template <class... Args>
Error make_error(fmt::format_string<Args...> format, Args&&... args) {
    return Error{fmt::format(format, std::forward<Args>(args)...), 0};
}

// Error text with strerror(errno) appended, e.g. "KVM_CREATE_VM: Permission denied".
Error errno_error(std::string what, int err);
Error errno_error(std::string what);

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error error) : v_(std::move(error)) {}

    bool ok() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }
    T& value() & { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    const T& value() const& { return std::get<0>(v_); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const Error& error() const& { return std::get<1>(v_); }
    Error&& error() && { return std::get<1>(std::move(v_)); }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), failed_(true) {}

    bool ok() const noexcept { return !failed_; }
    explicit operator bool() const noexcept { return ok(); }
    const Error& error() const& { return error_; }
    Error&& error() && { return std::move(error_); }

private:
    Error error_;
    bool failed_ = false;
};

}  // namespace domus

// Propagates a failed Result out of the calling function: `DOMUS_TRY(x, expr);`.
#define DOMUS_TRY(var, expr)                                     \
    auto var##_result_ = (expr);                                 \
    if (!var##_result_) return std::move(var##_result_).error(); \
    auto var = std::move(var##_result_).value()
#define DOMUS_TRY_VOID(expr)                                     \
    do {                                                         \
        auto try_result_ = (expr);                               \
        if (!try_result_) return std::move(try_result_).error(); \
    } while (0)
