// RunDir: the environment lookup.
#include "toolstack/run_dir.hpp"

#include <cstdlib>

namespace domus::toolstack {

RunDir RunDir::from_environment() {
    const char* dir = std::getenv("DOMUS_RUN_DIR");
    return RunDir{dir && *dir ? dir : "/run/domus"};
}

}  // namespace domus::toolstack
