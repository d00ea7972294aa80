#include "hub/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace stablelm::hub {
namespace {

std::string human_bytes(double b) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) {
    b /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

std::string clock_text(double s) {
  if (!(s >= 0) || s > 99 * 3600) return "--:--";
  auto t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%02ld:%02ld", t / 60, t % 60);
  return buf;
}

}  // namespace

ProgressBar::ProgressBar(bool enabled, std::string name, uint64_t total, uint64_t initial)
    : enabled_(enabled), name_(std::move(name)), total_(total), initial_(initial), done_(initial),
      start_(std::chrono::steady_clock::now()), last_draw_(), tty_(isatty(STDERR_FILENO) != 0) {
  if (name_.size() > 32) name_ = "…" + name_.substr(name_.size() - 31);
}

void ProgressBar::update(uint64_t done) {
  done_ = done;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw(false);
}

void ProgressBar::finish() {
  if (!enabled_) return;
  draw(true);
  if (tty_) std::fputc('\n', stderr);
  std::fflush(stderr);
}

void ProgressBar::draw(bool final) {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = secs > 0 ? static_cast<double>(done_ - initial_) / secs : 0;
  std::string line = name_ + "  ";
  if (total_ > 0) {
    int pct = static_cast<int>(100.0 * static_cast<double>(done_) / static_cast<double>(total_));
    const int width = 20;
    int fill = pct * width / 100;
    line += "[" + std::string(static_cast<size_t>(fill), '#') + std::string(static_cast<size_t>(width - fill), ' ') +
            "] " + std::to_string(pct) + "%  " + human_bytes(static_cast<double>(done_)) + " / " +
            human_bytes(static_cast<double>(total_));
  } else {
    line += human_bytes(static_cast<double>(done_));
  }
  line += "  " + human_bytes(rate) + "/s";
  if (final)
    line += "  in " + clock_text(secs);
  else if (total_ > 0 && rate > 0)
    line += "  ETA " + clock_text(static_cast<double>(total_ - std::min(done_, total_)) / rate);
  // On a terminal the line is redrawn in place; elsewhere (forced with --progress) each draw is a line.
  std::fprintf(stderr, tty_ ? "\r%s\x1b[K" : "%s\n", line.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace stablelm::hub
