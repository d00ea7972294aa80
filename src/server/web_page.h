#pragma once
// The chat page served at `/`: web/index.html, embedded into the binary at build time
// (CMakeLists.txt generates web_page.cpp from it).
#include <string_view>

namespace stablelm::server {
std::string_view web_page();
}
