#include "model_path.h"

#include "stablelm/error.h"
#include "stablelm/hub.h"

namespace stablelm::cli {
namespace fs = std::filesystem;

std::filesystem::path resolve_model_dir(const std::string& model_arg, const std::string& revision) {
  if (model_arg.empty())
    throw Error("--model is empty: give a model directory or a hub id org/name[@revision]");
  std::error_code ec;
  if (fs::is_directory(model_arg, ec)) {
    if (!revision.empty())
      throw Error("--revision " + revision + " applies to hub ids, but --model " + model_arg + " is a local directory");
    return model_arg;
  }
  // Things that can only be paths are reported as missing paths, not as bad hub ids.
  const bool path_like = model_arg[0] == '/' || model_arg[0] == '~' || model_arg.rfind("./", 0) == 0 ||
                         model_arg.rfind("../", 0) == 0 || fs::exists(model_arg, ec);
  if (path_like) throw Error("--model " + model_arg + ": no such directory");
  hub::ModelRef ref;
  try {
    ref = hub::parse_model_ref(model_arg);
  } catch (const Error& e) {
    throw Error("--model " + model_arg + ": not a local directory, and not a hub id org/name[@revision]: " + e.what());
  }
  // An explicit --revision wins over org/name@revision.
  const std::string rev = revision.empty() ? ref.revision : revision;
  try {
    return hub::snapshot_download(ref.repo, rev, hub::Options::from_env());
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.find("not found") != std::string::npos) msg += " (and there is no local directory " + model_arg + ")";
    throw Error("--model " + model_arg + ": " + msg);
  }
}

void add_model_options(CLI::App& app, std::string& model, std::string& revision) {
  app.add_option("--model", model, "Model directory or hub id org/name[@revision]")->required();
  app.add_option("--revision", revision, "Hub revision (branch, tag or commit) for a hub id");
}

}  // namespace stablelm::cli
