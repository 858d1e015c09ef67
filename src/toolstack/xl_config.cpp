// xl.cfg files and overrides: the syntax pass (xl_syntax), then the semantic pass
// (xl_semantics); an override re-reads the spec as written by xl_writer.
#include "toolstack/xl_config.hpp"

#include <cerrno>
#include <fstream>
#include <sstream>

namespace domus::toolstack {

Result<ParsedConfig> parse_xl_config(std::string_view text, std::string_view file_name) {
    DOMUS_TRY(settings, xl::parse_settings(text, std::string(file_name)));
    return build_domain_spec(settings, file_name);
}

Result<void> apply_override(DomainSpec& spec, std::string_view key_equals_value) {
    DOMUS_TRY(overrides, xl::parse_override_settings(key_equals_value,
                                                     fmt::format("override {}", key_equals_value)));
    // Re-reading the spec's own text keeps one validation path for files and overrides.
    DOMUS_TRY(settings, xl::parse_settings(to_xl_config(spec), "domain spec"));
    for (xl::Setting& o : overrides) {
        if (o.key == "memory" && spec.maxmem_mib == spec.memory_mib) {
            std::erase_if(settings, [](const xl::Setting& s) { return s.key == "maxmem"; });
        }
        if (o.key == "vcpus" && spec.maxvcpus == spec.vcpus) {
            std::erase_if(settings, [](const xl::Setting& s) { return s.key == "maxvcpus"; });
        }
        merge_override(settings, std::move(o));
    }
    DOMUS_TRY(parsed, build_domain_spec(settings, "override"));
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

    DOMUS_TRY(settings, xl::parse_settings(text.str(), path));
    for (const auto& o : overrides) {
        DOMUS_TRY(more, xl::parse_override_settings(o, fmt::format("{}: override {}", path, o)));
        for (xl::Setting& s : more)
            merge_override(settings, std::move(s));
    }
    return build_domain_spec(settings, path);
}

std::string resolve_kernel_path(const DomainSpec& spec, const std::string& config_dir) {
    if (spec.kernel.empty() || spec.kernel.front() == '/' || config_dir.empty()) {
        return spec.kernel;
    }
    return config_dir.back() == '/' ? config_dir + spec.kernel : config_dir + "/" + spec.kernel;
}

}  // namespace domus::toolstack
