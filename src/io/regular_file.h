#pragma once
// The one way a file given to us is opened: anything that is not a regular file after symlinks
// are followed (a directory, a FIFO, a socket, a device) is refused by name before it is read.
// Opening is non-blocking, so a FIFO nobody writes to cannot hang the process.
#include <cstdint>
#include <filesystem>
#include <string>

#include "common/unique_fd.h"

namespace stablelm::io {

// A read-only descriptor of a regular file and its size. Throws stablelm::Error
// "<path>: is a directory" / "<path>: is a FIFO, not a regular file" / "<path>: cannot open: ...".
UniqueFd open_regular_file(const std::filesystem::path& path, uint64_t* size = nullptr);

// The whole content of a regular file (errors as above, and read errors, name the file).
std::string read_regular_file(const std::filesystem::path& path);

}  // namespace stablelm::io
