// Command line parsing (see cmdline.hpp).
#include "cmdline.hpp"

#include "boot_info.hpp"

#include <string.h>

namespace domus::guest {

namespace {

    constexpr int kMaxArgs = 64;
    char words[MAX_GUEST_CMDLINE];
    char* argv[kMaxArgs + 1];
    int argc;
    char program_name[] = "domus";

} // namespace

void init_cmdline()
{
    argv[argc++] = program_name;
    const char* in = boot.cmdline;
    char* out = words;
    while (*in && argc < kMaxArgs) {
        while (*in == ' ' || *in == '\t' || *in == '\n')
            ++in;
        if (!*in)
            break;
        argv[argc++] = out;
        bool quoted = false;
        for (; *in && (quoted || (*in != ' ' && *in != '\t' && *in != '\n')); ++in) {
            if (*in == '"')
                quoted = !quoted;
            else
                *out++ = *in;
        }
        *out++ = '\0';
    }
    argv[argc] = nullptr;
}

int cmdline_argc() { return argc; }
char** cmdline_argv() { return argv; }
const char* cmdline() { return boot.cmdline; }

const char* cmdline_get(const char* key, char* buf, size_t size)
{
    size_t klen = strlen(key);
    for (int i = 1; i < argc; ++i) {
        if (strncmp(argv[i], key, klen) == 0 && argv[i][klen] == '=') {
            const char* value = argv[i] + klen + 1;
            if (buf && size) {
                size_t n = strlen(value);
                if (n >= size)
                    n = size - 1;
                memcpy(buf, value, n);
                buf[n] = '\0';
                return buf;
            }
            return value;
        }
    }
    return nullptr;
}

} // namespace domus::guest
