// `domus image convert`: registered under `domus image` by cmd_image.cpp.
#pragma once

#include <CLI/CLI.hpp>

namespace domus::cli {

void add_image_convert_command(CLI::App& image, int& status);

}  // namespace domus::cli
