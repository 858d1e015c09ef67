// Path validation and resolution, following the rules of reference section 1.4.
#include "store/path.hpp"

#include <domus/abi/xs_wire.h>

#include "store/error.hpp"

namespace domus::store {
namespace {

bool allowed_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' ||
           c == '_' || c == '@' || c == '-';
}

bool well_formed(std::string_view path) noexcept {
    if (path.empty()) return false;
    for (char c : path)
        if (!allowed_char(c)) return false;
    if (path.find("//") != std::string_view::npos) return false;
    if (path.size() > 1 && path.back() == '/') return false;
    return true;
}

}  // namespace

bool is_special_path(std::string_view path) noexcept {
    return path == kIntroduceDomain || path == kReleaseDomain;
}

std::string domain_home(DomainId domid) {
    return "/local/domain/" + std::to_string(domid);
}

Result<ResolvedPath> resolve_path(std::string_view raw, DomainId home, const PathRules& rules) {
    if (!well_formed(raw)) return xs_error(XsError::Inval);
    if (raw.front() == '@') {
        if (!rules.allow_special || !is_special_path(raw)) return xs_error(XsError::Inval);
        return ResolvedPath{std::string(raw), false};
    }
    if (raw.front() == '/') {
        if (raw.size() > XENSTORE_ABS_PATH_MAX) return xs_error(XsError::Inval);
        return ResolvedPath{std::string(raw), false};
    }
    if (rules.relative_max != 0 && raw.size() > rules.relative_max) return xs_error(XsError::Inval);
    std::string absolute = domain_home(home);
    absolute += '/';
    absolute += raw;
    if (absolute.size() > XENSTORE_ABS_PATH_MAX) return xs_error(XsError::Inval);
    return ResolvedPath{std::move(absolute), true};
}

std::string_view parent_path(std::string_view path) noexcept {
    auto slash = path.rfind('/');
    if (slash == 0 || slash == std::string_view::npos) return "/";
    return path.substr(0, slash);
}

std::string_view base_name(std::string_view path) noexcept {
    auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool is_same_or_below(std::string_view path, std::string_view ancestor) noexcept {
    if (ancestor == "/") return !path.empty() && path.front() == '/';
    if (!path.starts_with(ancestor)) return false;
    return path.size() == ancestor.size() || path[ancestor.size()] == '/';
}

std::string_view relative_to_home(std::string_view path, std::string_view home_prefix) noexcept {
    if (path.size() > home_prefix.size() + 1 && path.starts_with(home_prefix) &&
        path[home_prefix.size()] == '/')
        return path.substr(home_prefix.size() + 1);
    return path;
}

}  // namespace domus::store
