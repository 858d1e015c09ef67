// Tests for base/result.hpp: Result<T> and Result<void> on the value and error paths,
// errno_error, and propagation with DOMUS_TRY / DOMUS_TRY_VOID.
#include "base/result.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <string>

namespace domus {
namespace {

Result<int> half(int n) {
    if (n % 2 != 0) return make_error("{} is odd", n);
    return n / 2;
}

// Halves twice, counting how far it got, to prove DOMUS_TRY stops at the first error.
Result<int> quarter(int n, int& steps) {
    DOMUS_TRY(h, half(n));
    ++steps;
    DOMUS_TRY(q, half(h));
    ++steps;
    return q;
}

// Propagation across value types: an error from Result<int> leaves a Result<std::string>.
Result<std::string> describe(int n) {
    DOMUS_TRY(h, half(n));
    return std::to_string(h);
}

Result<void> check_even(int n) {
    if (n % 2 != 0) return Error{"odd", EINVAL};
    return {};
}

Result<void> check_all_even(int a, int b, int& checked) {
    DOMUS_TRY_VOID(check_even(a));
    ++checked;
    DOMUS_TRY_VOID(check_even(b));
    ++checked;
    return {};
}

TEST(Result, HoldsAValue) {
    Result<int> r = half(8);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(bool(r));
    EXPECT_EQ(r.value(), 4);
    EXPECT_EQ(*r, 4);
}

TEST(Result, HoldsAnError) {
    Result<int> r = half(7);
    ASSERT_FALSE(r.ok());
    EXPECT_FALSE(bool(r));
    EXPECT_EQ(r.error().message, "7 is odd");
    EXPECT_EQ(r.error().code, 0);
}

TEST(Result, ArrowReachesMembers) {
    Result<std::string> r = std::string("abc");
    EXPECT_EQ(r->size(), 3u);
    const Result<std::string>& cr = r;
    EXPECT_EQ(cr->front(), 'a');
}

TEST(Result, MovesOutMoveOnlyValues) {
    Result<std::unique_ptr<int>> r = std::make_unique<int>(42);
    std::unique_ptr<int> p = std::move(r).value();
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, 42);
}

TEST(Result, MovesOutTheError) {
    Result<int> r = half(3);
    Error e = std::move(r).error();
    EXPECT_EQ(e.message, "3 is odd");
}

TEST(ResultVoid, DefaultIsSuccess) {
    Result<void> r;
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(bool(r));
}

TEST(ResultVoid, CarriesErrorAndCode) {
    Result<void> r = check_even(1);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "odd");
    EXPECT_EQ(r.error().code, EINVAL);
}

TEST(ErrnoError, AppendsStrerrorAndKeepsTheCode) {
    Error e = errno_error("open /nonexistent", ENOENT);
    EXPECT_EQ(e.message, "open /nonexistent: No such file or directory");
    EXPECT_EQ(e.code, ENOENT);
}

TEST(ErrnoError, ReadsErrnoWhenNotGiven) {
    errno = EACCES;
    Error e = errno_error("KVM_CREATE_VM");
    EXPECT_EQ(e.message, "KVM_CREATE_VM: Permission denied");
    EXPECT_EQ(e.code, EACCES);
}

TEST(DomusTry, PassesValuesThrough) {
    int steps = 0;
    Result<int> r = quarter(20, steps);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, 5);
    EXPECT_EQ(steps, 2);
}

TEST(DomusTry, ReturnsTheFirstErrorAndStops) {
    int steps = 0;
    Result<int> r = quarter(7, steps);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "7 is odd");
    EXPECT_EQ(steps, 0);

    steps = 0;
    r = quarter(6, steps);  // 6 -> 3, then 3 is odd
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "3 is odd");
    EXPECT_EQ(steps, 1);
}

TEST(DomusTry, PropagatesAcrossValueTypes) {
    EXPECT_EQ(describe(10).value(), "5");
    Result<std::string> r = describe(9);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "9 is odd");
}

TEST(DomusTryVoid, StopsAtTheFirstError) {
    int checked = 0;
    EXPECT_TRUE(check_all_even(2, 4, checked).ok());
    EXPECT_EQ(checked, 2);

    checked = 0;
    Result<void> r = check_all_even(2, 5, checked);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_EQ(checked, 1);
}

}  // namespace
}  // namespace domus
