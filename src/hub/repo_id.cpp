// Validation of hub ids, revisions and repo file names. Revisions and file names become paths
// inside the cache, so anything that could climb out of it ("..", absolute paths) is refused.
#include <cctype>
#include <string>

#include "stablelm/error.h"
#include "stablelm/hub.h"

namespace stablelm::hub {
namespace {

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

// One half of org/name, following huggingface_hub's validate_repo_id rules.
void validate_part(const std::string& full, const std::string& part, const char* which) {
  if (part.empty()) throw Error("hub id '" + full + "': the " + which + " part is empty (expected org/name)");
  if (part.size() > 96) throw Error("hub id '" + full + "': the " + which + " part is longer than 96 characters");
  for (char c : part)
    if (!is_name_char(c))
      throw Error("hub id '" + full + "': character '" + std::string(1, c) + "' is not allowed in the " + which +
                  " part (letters, digits, '-', '_', '.')");
  if (part.find("..") != std::string::npos || part.find("--") != std::string::npos)
    throw Error("hub id '" + full + "': '--' and '..' are not allowed");
  if (part.front() == '-' || part.front() == '.' || part.back() == '-' || part.back() == '.')
    throw Error("hub id '" + full + "': the " + which + " part cannot start or end with '-' or '.'");
}

}  // namespace

void validate_repo_id(const std::string& repo) {
  if (repo.empty()) throw Error("empty hub id (expected org/name)");
  size_t slash = repo.find('/');
  if (slash == std::string::npos) throw Error("hub id '" + repo + "': expected the form org/name");
  if (repo.find('/', slash + 1) != std::string::npos)
    throw Error("hub id '" + repo + "': too many '/' (expected org/name)");
  validate_part(repo, repo.substr(0, slash), "org");
  validate_part(repo, repo.substr(slash + 1), "name");
  if (repo.size() >= 4 && repo.compare(repo.size() - 4, 4, ".git") == 0)
    throw Error("hub id '" + repo + "': cannot end with .git");
}

void validate_revision(const std::string& revision) {
  if (revision.empty()) throw Error("empty revision (expected a branch, tag or commit hash)");
  if (revision.size() > 255) throw Error("revision '" + revision.substr(0, 40) + "…': too long");
  if (revision.front() == '/' || revision.back() == '/')
    throw Error("revision '" + revision + "': cannot start or end with '/'");
  size_t start = 0;
  while (start <= revision.size()) {
    size_t end = revision.find('/', start);
    if (end == std::string::npos) end = revision.size();
    std::string part = revision.substr(start, end - start);
    if (part.empty() || part == "." || part == "..")
      throw Error("revision '" + revision + "': empty, '.' or '..' path parts are not allowed");
    start = end + 1;
  }
  for (char c : revision) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == ' ' || c == '\\' || c == '~' || c == '^' || c == ':' || c == '?' ||
        c == '*' || c == '[')
      throw Error("revision '" + revision + "': character not allowed in a git ref");
  }
}

void validate_repo_filename(const std::string& name) {
  if (name.empty() || name.front() == '/' || name.back() == '/' || name.find('\\') != std::string::npos ||
      name.find('\0') != std::string::npos)
    throw Error("repo file name '" + name + "' is not a relative path");
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    std::string part = name.substr(start, end - start);
    if (part.empty() || part == "." || part == "..")
      throw Error("repo file name '" + name + "' would leave the snapshot directory");
    start = end + 1;
  }
}

bool is_commit_hash(const std::string& s) {
  if (s.size() != 40) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

ModelRef parse_model_ref(const std::string& text) {
  if (text.empty()) throw Error("empty model id (expected a directory or a hub id org/name[@revision])");
  ModelRef ref;
  size_t at = text.find('@');
  ref.repo = text.substr(0, at);
  if (at != std::string::npos) {
    ref.revision = text.substr(at + 1);
    if (ref.revision.empty()) throw Error("hub id '" + text + "': nothing after '@' (expected a revision)");
    validate_revision(ref.revision);
  }
  validate_repo_id(ref.repo);
  return ref;
}

std::string repo_folder_name(const std::string& repo) {
  std::string out = "models";
  size_t start = 0;
  while (true) {
    size_t slash = repo.find('/', start);
    out += "--" + repo.substr(start, slash - start);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

}  // namespace stablelm::hub
