#include "model_path.h"

#include "stablelm/error.h"

namespace stablelm::cli {

std::filesystem::path resolve_model_dir(const std::string& model_arg, const std::string& revision) {
  // Hub ids are wired in by the hub client (src/hub); until then only local directories.
  std::filesystem::path p(model_arg);
  if (std::filesystem::is_directory(p)) return p;
  throw Error("--model " + model_arg + ": no such directory");
}

}  // namespace stablelm::cli
