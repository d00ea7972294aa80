// stablelm download: fetch what the engine needs from a hub repo into the Hugging Face cache and
// print the snapshot directory (usable as --model, or by transformers from the same cache).
#include <cstdio>
#include <memory>
#include <string>

#include "command.h"
#include "stablelm/error.h"
#include "stablelm/hub.h"

namespace stablelm::cli {
namespace {

struct Options {
  std::string model, revision, cache_dir;
  bool progress = false, no_progress = false;
};

int run(const Options& o) {
  hub::ModelRef ref = hub::parse_model_ref(o.model);
  hub::Options opts = hub::Options::from_env();
  if (!o.cache_dir.empty()) opts.cache_dir = o.cache_dir;
  if (o.progress) opts.progress = hub::Progress::Always;
  if (o.no_progress) opts.progress = hub::Progress::Never;
  const std::string rev = o.revision.empty() ? ref.revision : o.revision;  // --revision wins over @rev
  auto dir = hub::snapshot_download(ref.repo, rev, opts);
  std::printf("%s\n", dir.string().c_str());
  return 0;
}

Registration reg("download", "Download a model from the Hugging Face hub into its cache; prints the snapshot dir",
                 [](CLI::App& app) {
                   auto o = std::make_shared<Options>();
                   app.add_option("MODEL", o->model, "Hub id org/name[@revision]")->required();
                   app.add_option("--revision", o->revision, "Branch, tag or commit (wins over @revision)");
                   app.add_option("--cache-dir", o->cache_dir,
                                  "Hub cache root (default: $HF_HUB_CACHE, else $HF_HOME/hub, else "
                                  "~/.cache/huggingface/hub)");
                   auto* p = app.add_flag("--progress", o->progress, "Show progress bars even when stderr is not a terminal");
                   auto* np = app.add_flag("--no-progress", o->no_progress, "Never show progress bars");
                   p->excludes(np);
                   return [o] { return run(*o); };
                 });

}  // namespace
}  // namespace stablelm::cli
