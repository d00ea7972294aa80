// `stablelm serve`: the HTTP side (cpp-httplib). Routes parse and validate requests, hand them to
// the scheduler and answer with OpenAI's JSON or Server-Sent Events. A stream is written by a
// content provider, so a client that goes away is noticed (httplib checks the socket before each
// write) and its request cancelled. A JSON answer waits for the request to finish, so that a
// failure after admission gets its own status (503, 500), never a 200 with an error inside.
#include <httplib.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <random>
#include <memory>
#include <thread>

#include "server/api_error.h"
#include "server/metrics.h"
#include "server/requests.h"
#include "server/responses.h"
#include "server/scheduler.h"
#include "server/text_output.h"
#include "server/web_page.h"
#include "stablelm/chat.h"
#include "stablelm/engine.h"
#include "stablelm/error.h"
#include "stablelm/generation_config.h"
#include "stablelm/server.h"
#include "stablelm/tokenizer.h"

namespace stablelm::server {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct State {
  ServerOptions opts;
  Limits limits;
  std::string model_name;
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Scheduler> scheduler;
  GenerationConfig defaults;
  chat::ChatTemplateConfig chat_cfg;
  Metrics metrics;
  int64_t ctx = 0;
  int64_t created = 0;
  std::atomic<bool> ready{false};
};

void send_error(httplib::Response& res, int status, const std::string& message,
                const std::optional<std::string>& param = std::nullopt,
                const std::optional<std::string>& code = std::nullopt) {
  res.status = status;
  res.set_content(dump(error_body(status, message, param, code)), "application/json");
}

void send_json(httplib::Response& res, const ojson& j) { res.set_content(dump(j), "application/json"); }

void require_ready(const State& st) {
  if (!st.ready.load()) throw ApiError(503, "the model is loading", std::nullopt, "model_loading");
}

void check_context(const State& st, int64_t prompt_len, int64_t max_tokens) {
  if (prompt_len + max_tokens > st.ctx)
    throw ApiError(400,
                   "This model's maximum context length is " + std::to_string(st.ctx) + " tokens. However, you requested " +
                       std::to_string(prompt_len + max_tokens) + " tokens (" + std::to_string(prompt_len) +
                       " in the prompt, " + std::to_string(max_tokens) + " for the completion). Please reduce the prompt or the completion length.",
                   "messages", "context_length_exceeded");
}

uint64_t pick_seed(const SamplingFields& s) {
  if (s.seed) return *s.seed;
  static std::atomic<uint64_t> counter{std::random_device{}()};
  return counter.fetch_add(0x9E3779B97F4A7C15ull);
}

// Submits; throws ApiError 503 (with Retry-After) when the queue is full or the server stops.
void submit(State& st, const std::shared_ptr<Request>& req, httplib::Response& res) {
  switch (st.scheduler->submit(req)) {
    case Scheduler::Submit::Ok: return;
    case Scheduler::Submit::QueueFull:
      res.set_header("Retry-After", "1");
      throw ApiError(503, "the server is busy: " + std::to_string(st.opts.max_queue) + " requests are already waiting",
                     std::nullopt, "server_busy");
    case Scheduler::Submit::ShuttingDown:
      throw ApiError(503, "the server is shutting down", std::nullopt, "shutting_down");
  }
}

// A snapshot of a request's progress, taken under its lock after waiting up to 100 ms for news.
struct Snapshot {
  std::vector<JobProgress> progress;
  bool finished = false;
  int error_status = 0;
  std::string error_message;
};

Snapshot wait_snapshot(Request& req, uint64_t& seen, bool until_finished) {
  std::unique_lock lk(req.mu);
  req.cv.wait_for(lk, std::chrono::milliseconds(100),
                  [&] { return req.finished || (!until_finished && req.version != seen); });
  seen = req.version;
  Snapshot s;
  s.finished = req.finished;
  s.error_status = req.error_status;
  s.error_message = req.error_message;
  if (!until_finished || req.finished) s.progress = req.progress;
  return s;
}

// The socket of this request's connection, found among the process's descriptors by its peer
// address and port (-1 when none matches). cpp-httplib 0.11 (Debian 12's) tells a handler nothing
// about its connection, but a handler that waits for a long answer must notice a client that left.
int connection_socket(const httplib::Request& r) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    int fd = -1;
    try {
      fd = std::stoi(e.path().filename().string());
    } catch (const std::exception&) {
      continue;
    }
    struct stat sb {};
    if (fstat(fd, &sb) != 0 || !S_ISSOCK(sb.st_mode)) continue;
    sockaddr_storage peer{}, local{};
    socklen_t pl = sizeof(peer), ll = sizeof(local);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0) continue;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0) continue;
    char host[NI_MAXHOST], port[NI_MAXSERV], lport[NI_MAXSERV];
    if (getnameinfo(reinterpret_cast<sockaddr*>(&peer), pl, host, sizeof(host), port, sizeof(port),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
      continue;
    if (getnameinfo(reinterpret_cast<sockaddr*>(&local), ll, nullptr, 0, lport, sizeof(lport), NI_NUMERICSERV) != 0)
      continue;
    if (r.remote_addr == host && std::to_string(r.remote_port) == port && std::to_string(r.local_port) == lport)
      return fd;
  }
  return -1;
}

// True when the peer has closed or reset the connection.
bool peer_closed(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

bool write_sse(httplib::DataSink& sink, const std::string& data) {
  const std::string ev = "data: " + data + "\n\n";
  return sink.write(ev.data(), ev.size());
}

// Answers a generation request with a body written once it finishes (JSON) or as it goes (SSE).
// `on_data` writes what is new and returns false when the response is complete; for JSON it is
// called once, on success (a failure is answered here with its own status).
void respond_async(const httplib::Request& http_req, httplib::Response& res, const std::shared_ptr<Request>& req,
                   State& st, bool stream, std::function<bool(const Snapshot&, httplib::DataSink&)> on_data) {
  if (!stream) {
    // Wait here, so the status line can still say how the request ended.
    const int fd = connection_socket(http_req);
    uint64_t seen = 0;
    Snapshot snap;
    for (;;) {
      snap = wait_snapshot(*req, seen, true);
      if (snap.finished) break;
      if (fd >= 0 && peer_closed(fd)) {
        req->cancelled = true;  // the scheduler drops it at the next step
        st.metrics.add_request(false);
        return;
      }
    }
    st.metrics.add_request(snap.error_status == 0);
    if (snap.error_status) {
      if (snap.error_status == 503) res.set_header("Retry-After", "1");
      return send_error(res, snap.error_status, snap.error_message);
    }
    std::string body;
    httplib::DataSink sink;
    sink.write = [&body](const char* d, size_t n) {
      body.append(d, n);
      return true;
    };
    sink.is_writable = [] { return true; };
    sink.done = [] {};
    on_data(snap, sink);
    res.set_content(body, "application/json");
    return;
  }
  auto seen = std::make_shared<uint64_t>(0);
  auto provider = [req, seen, on_data](size_t, httplib::DataSink& sink) {
    try {
      const Snapshot snap = wait_snapshot(*req, *seen, false);
      if (!on_data(snap, sink)) sink.done();
      return true;
    } catch (const std::exception&) {
      return false;  // nothing may escape into httplib's worker: the connection is closed instead
    }
  };
  auto releaser = [req, &st](bool success) {
    if (!success) req->cancelled = true;  // the client went away: the scheduler drops it at the next step
    std::lock_guard lk(req->mu);
    st.metrics.add_request(success && req->error_status == 0);
  };
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", provider, releaser);
}

// ---- /v1/completions --------------------------------------------------------------------------

void handle_completions(State& st, const httplib::Request& http_req, httplib::Response& res) {
  require_ready(st);
  const ojson body = parse_json_object(http_req.body);
  auto cr = std::make_shared<CompletionRequest>(parse_completion_request(body, *st.tok, st.limits));
  const int64_t max_tokens = *cr->sampling.max_tokens;
  const uint64_t seed = pick_seed(cr->sampling);
  std::vector<JobSpec> specs;
  for (const auto& p : cr->prompts) {
    check_context(st, static_cast<int64_t>(p.size()), max_tokens);
    JobSpec s;
    s.prompt = p;
    s.cfg = make_generation_config(cr->sampling, st.defaults, std::max<int64_t>(1, max_tokens));
    s.max_tokens = max_tokens;
    s.choices = cr->best_of;
    s.seed = seed;
    s.top_logprobs = cr->logprobs ? *cr->logprobs : -1;
    s.prompt_logprobs = cr->echo && cr->logprobs.has_value();
    s.rank = cr->best_of > cr->sampling.n;
    specs.push_back(std::move(s));
  }
  auto req = std::make_shared<Request>(std::move(specs));
  submit(st, req, res);

  const std::string id = make_id("cmpl-");
  const int64_t created = unix_now();
  const std::string model = st.model_name;
  const Tokenizer& tok = *st.tok;
  const int n = cr->sampling.n;
  auto echo_text = [cr, &tok](size_t j) {
    return cr->prompt_texts[j] ? *cr->prompt_texts[j] : tok.decode(cr->prompts[j], false);
  };
  auto usage = [cr](const Snapshot& s, int n_ret) {
    int64_t pt = 0, ct = 0;
    for (size_t j = 0; j < s.progress.size(); ++j) {
      pt += static_cast<int64_t>(cr->prompts[j].size());
      for (size_t c : returned_choices(s.progress[j], n_ret, cr->best_of > n_ret))
        ct += static_cast<int64_t>(s.progress[j].choices[c].ids.size());
    }
    return ojson{{"prompt_tokens", pt}, {"completion_tokens", ct}, {"total_tokens", pt + ct}};
  };

  if (!cr->stream) {
    respond_async(http_req, res, req, st, false, [=, &tok](const Snapshot& s, httplib::DataSink& sink) {
      ojson choices = ojson::array();
      for (size_t j = 0; j < s.progress.size(); ++j) {
        const JobProgress& p = s.progress[j];
        const std::string prefix = cr->echo ? echo_text(j) : std::string();
        auto make_choice = [&](int index, const ChoiceProgress* c) {
          std::string text = prefix;
          ojson lp = nullptr;
          if (cr->logprobs) {
            lp = empty_legacy_logprobs();
            int64_t offset = 0;
            if (cr->echo) append_legacy_logprobs(lp, tok, cr->prompts[j], p.prompt_logprobs, true, offset);
            if (c) append_legacy_logprobs(lp, tok, c->ids, c->logprobs, false, offset);
          }
          const char* reason = "length";
          if (c) {
            TextAssembler ta(tok, cr->sampling.stop);
            for (int32_t t : c->ids) text += ta.push(t);
            text += ta.finish(c->reason == StopReason::StopString ? c->stop_index : -1);
            reason = finish_reason(c->reason);
          }
          return ojson{{"index", index}, {"text", text}, {"logprobs", lp}, {"finish_reason", reason}};
        };
        if (p.choices.empty()) {  // max_tokens 0: the echoed prompt alone
          choices.push_back(make_choice(static_cast<int>(j) * n, nullptr));
          continue;
        }
        const auto ret = returned_choices(p, n, cr->best_of > n);
        for (size_t i = 0; i < ret.size(); ++i)
          choices.push_back(make_choice(static_cast<int>(j) * n + static_cast<int>(i), &p.choices[ret[i]]));
      }
      const ojson out{{"id", id},           {"object", "text_completion"}, {"created", created},
                      {"model", model},     {"choices", choices},          {"system_fingerprint", nullptr},
                      {"usage", usage(s, n)}};
      const std::string body_text = dump(out);
      sink.write(body_text.data(), body_text.size());
      return false;
    });
    return;
  }

  // Streaming: per choice, the text that became safe and the logprobs of the tokens since the last chunk.
  struct ChoiceStream {
    std::unique_ptr<TextAssembler> text;
    size_t sent_tokens = 0;
    bool started = false, finished = false;
    int64_t offset = 0;
  };
  auto streams = std::make_shared<std::vector<ChoiceStream>>(cr->prompts.size() * static_cast<size_t>(n));
  for (auto& cs : *streams) cs.text = std::make_unique<TextAssembler>(tok, cr->sampling.stop);
  const bool include_usage = cr->include_usage;
  respond_async(http_req, res, req, st, true, [=, &tok](const Snapshot& s, httplib::DataSink& sink) {
    auto chunk = [&](int index, const std::string& text, ojson lp, const char* reason) {
      ojson c{{"id", id},
              {"object", "text_completion"},
              {"created", created},
              {"model", model},
              {"choices", ojson::array({ojson{{"index", index},
                                              {"text", text},
                                              {"logprobs", std::move(lp)},
                                              {"finish_reason", reason ? ojson(reason) : ojson(nullptr)}}})}};
      if (include_usage) c["usage"] = nullptr;
      return write_sse(sink, dump(c));
    };
    if (s.error_status) {
      write_sse(sink, dump(error_body(s.error_status, s.error_message)));
      write_sse(sink, "[DONE]");
      return false;
    }
    for (size_t j = 0; j < s.progress.size(); ++j) {
      const JobProgress& p = s.progress[j];
      for (int i = 0; i < n; ++i) {
        ChoiceStream& cs = (*streams)[j * static_cast<size_t>(n) + static_cast<size_t>(i)];
        const int index = static_cast<int>(j) * n + i;
        const ChoiceProgress* c = static_cast<size_t>(i) < p.choices.size() ? &p.choices[static_cast<size_t>(i)] : nullptr;
        if (cs.finished) continue;
        std::string text;
        ojson lp = nullptr;
        if (cr->logprobs) lp = empty_legacy_logprobs();
        if (!cs.started && cr->echo && (c || p.done)) {
          text = echo_text(j);
          if (cr->logprobs) append_legacy_logprobs(lp, tok, cr->prompts[j], p.prompt_logprobs, true, cs.offset);
        }
        if (c) {
          cs.started = true;
          const size_t upto = c->ids.size();
          for (size_t k = cs.sent_tokens; k < upto; ++k) text += cs.text->push(c->ids[k]);
          if (cr->logprobs)
            append_legacy_logprobs(lp, tok, std::span<const int32_t>(c->ids).subspan(cs.sent_tokens, upto - cs.sent_tokens),
                                   std::span<const TokenLogprob>(c->logprobs).subspan(cs.sent_tokens, upto - cs.sent_tokens),
                                   false, cs.offset);
          cs.sent_tokens = upto;
          if (c->done) {
            text += cs.text->finish(c->reason == StopReason::StopString ? c->stop_index : -1);
            cs.finished = true;
            if (!chunk(index, text, lp, finish_reason(c->reason))) return false;
            continue;
          }
          if (!text.empty() && !chunk(index, text, lp, nullptr)) return false;
        } else if (p.done) {  // max_tokens 0
          cs.started = cs.finished = true;
          if (!chunk(index, text, lp, "length")) return false;
        }
      }
    }
    if (!s.finished) return true;
    if (include_usage) {
      const ojson u{{"id", id},          {"object", "text_completion"}, {"created", created},
                    {"model", model},    {"choices", ojson::array()},   {"usage", usage(s, n)}};
      write_sse(sink, dump(u));
    }
    write_sse(sink, "[DONE]");
    return false;
  });
}

// ---- chat templates and the tokenizer routes ------------------------------------------------------

std::vector<int32_t> encode_or_400(const State& st, const std::string& text, bool add_special, const char* param) {
  try {
    std::vector<int32_t> ids;
    if (add_special && st.tok->add_bos_token() && st.tok->bos_id()) ids.push_back(*st.tok->bos_id());
    auto body = st.tok->encode(text, true);
    ids.insert(ids.end(), body.begin(), body.end());
    return ids;
  } catch (const Error& e) {
    throw ApiError(400, e.what(), param);
  }
}

void handle_chat(State& st, const httplib::Request& http_req, httplib::Response& res) {
  require_ready(st);
  const ojson body = parse_json_object(http_req.body);
  auto cr = std::make_shared<ChatRequest>(parse_chat_request(body, st.limits));
  // The template writes the special tokens it wants (BOS included), so none are added here.
  const std::string text = render_chat_request(st.chat_cfg, *cr);
  std::vector<int32_t> prompt = encode_or_400(st, text, false, "messages");
  if (prompt.empty()) throw ApiError(400, "the rendered chat prompt has no tokens", "messages");
  const auto L = static_cast<int64_t>(prompt.size());
  if (L >= st.ctx) check_context(st, L, 1);
  const int64_t max_tokens = cr->sampling.max_tokens ? *cr->sampling.max_tokens : st.ctx - L;
  check_context(st, L, max_tokens);
  JobSpec s;
  s.prompt = prompt;
  s.cfg = make_generation_config(cr->sampling, st.defaults, max_tokens);
  apply_tool_choice(*cr, s.cfg);
  s.max_tokens = max_tokens;
  s.choices = cr->sampling.n;
  s.seed = pick_seed(cr->sampling);
  s.top_logprobs = cr->logprobs ? cr->top_logprobs : -1;
  std::vector<JobSpec> specs;
  specs.push_back(std::move(s));
  auto req = std::make_shared<Request>(std::move(specs));
  submit(st, req, res);

  const std::string id = make_id("chatcmpl-");
  const int64_t created = unix_now();
  const std::string model = st.model_name;
  const Tokenizer& tok = *st.tok;
  auto usage = [L](const Snapshot& s) {
    int64_t ct = 0;
    for (const auto& c : s.progress[0].choices) ct += static_cast<int64_t>(c.ids.size());
    return ojson{{"prompt_tokens", L}, {"completion_tokens", ct}, {"total_tokens", L + ct}};
  };
  if (!cr->stream) {
    respond_async(http_req, res, req, st, false, [=, &tok](const Snapshot& s, httplib::DataSink& sink) {
      ojson choices = ojson::array();
      const JobProgress& p = s.progress[0];
      for (size_t i = 0; i < p.choices.size(); ++i) {
        const ChoiceProgress& c = p.choices[i];
        TextAssembler ta(tok, cr->sampling.stop);
        std::string text;
        for (int32_t t : c.ids) text += ta.push(t);
        text += ta.finish(c.reason == StopReason::StopString ? c.stop_index : -1);
        ojson lp = nullptr;
        if (cr->logprobs) lp = ojson{{"content", chat_logprobs_content(tok, c.logprobs)}};
        ojson message{{"role", "assistant"}, {"content", text}};
        const char* reason = finish_reason(c.reason);
        if (cr->tools_in_use()) {
          if (auto calls = chat::parse_tool_calls(text)) {
            message = ojson{{"role", "assistant"}, {"content", nullptr}, {"tool_calls", tool_calls_json(*calls)}};
            reason = "tool_calls";
          }
        }
        choices.push_back(ojson{{"index", i}, {"message", std::move(message)}, {"logprobs", lp}, {"finish_reason", reason}});
      }
      const std::string out = dump(ojson{{"id", id},           {"object", "chat.completion"}, {"created", created},
                                         {"model", model},     {"choices", choices},          {"system_fingerprint", nullptr},
                                         {"usage", usage(s)}});
      sink.write(out.data(), out.size());
      return false;
    });
    return;
  }
  struct ChoiceStream {
    std::unique_ptr<TextAssembler> text;
    size_t sent_tokens = 0;
    bool started = false, finished = false;
    ToolCallGate gate{false};
  };
  auto streams = std::make_shared<std::vector<ChoiceStream>>(static_cast<size_t>(cr->sampling.n));
  for (auto& cs : *streams) {
    cs.text = std::make_unique<TextAssembler>(tok, cr->sampling.stop);
    cs.gate = ToolCallGate(cr->tools_in_use());
  }
  const bool include_usage = cr->include_usage;
  respond_async(http_req, res, req, st, true, [=, &tok](const Snapshot& s, httplib::DataSink& sink) {
    auto chunk = [&](size_t index, ojson delta, ojson lp, const char* reason) {
      ojson c{{"id", id},
              {"object", "chat.completion.chunk"},
              {"created", created},
              {"model", model},
              {"system_fingerprint", nullptr},
              {"choices", ojson::array({ojson{{"index", index},
                                              {"delta", std::move(delta)},
                                              {"logprobs", std::move(lp)},
                                              {"finish_reason", reason ? ojson(reason) : ojson(nullptr)}}})}};
      if (include_usage) c["usage"] = nullptr;
      return write_sse(sink, dump(c));
    };
    if (s.error_status) {
      write_sse(sink, dump(error_body(s.error_status, s.error_message)));
      write_sse(sink, "[DONE]");
      return false;
    }
    const JobProgress& p = s.progress[0];
    for (size_t i = 0; i < p.choices.size(); ++i) {
      ChoiceStream& cs = (*streams)[i];
      const ChoiceProgress& c = p.choices[i];
      if (cs.finished) continue;
      if (!cs.started) {  // the role comes first, alone
        cs.started = true;
        if (!chunk(i, ojson{{"role", "assistant"}, {"content", ""}}, nullptr, nullptr)) return false;
      }
      std::string text;
      const size_t upto = c.ids.size();
      for (size_t k = cs.sent_tokens; k < upto; ++k) text += cs.text->push(c.ids[k]);
      ojson entries = cr->logprobs ? chat_logprobs_content(tok, std::span<const TokenLogprob>(c.logprobs).subspan(
                                                                    cs.sent_tokens, upto - cs.sent_tokens))
                                   : ojson::array();
      cs.sent_tokens = upto;
      if (c.done) text += cs.text->finish(c.reason == StopReason::StopString ? c.stop_index : -1);
      ToolCallGate::Release out = cs.gate.push(std::move(text), std::move(entries), c.done);
      const ojson lp = cr->logprobs ? ojson{{"content", std::move(out.logprobs)}} : ojson(nullptr);
      if (out.calls) {
        cs.finished = true;
        if (!chunk(i, ojson{{"tool_calls", tool_calls_json(*out.calls, true)}}, lp, nullptr)) return false;
        if (!chunk(i, ojson::object(), nullptr, "tool_calls")) return false;
        continue;
      }
      text = std::move(out.text);
      if (!text.empty() || (cr->logprobs && !lp["content"].empty()))
        if (!chunk(i, ojson{{"content", text}}, lp, nullptr)) return false;
      if (c.done) {
        cs.finished = true;
        if (!chunk(i, ojson::object(), nullptr, finish_reason(c.reason))) return false;
      }
    }
    if (!s.finished) return true;
    if (include_usage) {
      write_sse(sink, dump(ojson{{"id", id},       {"object", "chat.completion.chunk"}, {"created", created},
                                 {"model", model}, {"choices", ojson::array()},         {"usage", usage(s)}}));
    }
    write_sse(sink, "[DONE]");
    return false;
  });
}

void handle_tokenize(State& st, const httplib::Request& http_req, httplib::Response& res) {
  require_ready(st);
  const ojson body = parse_json_object(http_req.body);
  bool add_special = true;
  if (auto it = body.find("add_special_tokens"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) throw bad_field("add_special_tokens", "'add_special_tokens' must be a boolean");
    add_special = it->get<bool>();
  }
  std::vector<int32_t> ids;
  auto p = body.find("prompt");
  auto m = body.find("messages");
  if (p != body.end() && p->is_string()) {
    ids = encode_or_400(st, p->get<std::string>(), add_special, "prompt");
  } else if (m != body.end()) {
    ojson probe{{"messages", *m}};
    const ChatRequest cr = parse_chat_request(probe, st.limits);
    bool agp = true;
    if (auto a = body.find("add_generation_prompt"); a != body.end() && a->is_boolean()) agp = a->get<bool>();
    ojson tools = nullptr;
    if (auto t = body.find("tools"); t != body.end() && t->is_array()) tools = *t;
    ids = encode_or_400(st, render_chat_prompt(st.chat_cfg, cr.messages, tools, agp), false, "messages");
  } else {
    throw bad_field("prompt", "'prompt' (a string) or 'messages' is required");
  }
  send_json(res, ojson{{"count", ids.size()}, {"max_model_len", st.ctx}, {"tokens", ids}});
}

void handle_detokenize(State& st, const httplib::Request& http_req, httplib::Response& res) {
  require_ready(st);
  const ojson body = parse_json_object(http_req.body);
  auto t = body.find("tokens");
  if (t == body.end() || !t->is_array()) throw bad_field("tokens", "'tokens' must be a list of token ids");
  std::vector<int32_t> ids;
  for (const ojson& x : *t) {
    if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() >= st.tok->vocab_size() ||
        !st.tok->is_valid_id(static_cast<int32_t>(x.get<int64_t>())))
      throw bad_field("tokens", "token id " + x.dump() + " is not in the vocabulary");
    ids.push_back(static_cast<int32_t>(x.get<int64_t>()));
  }
  send_json(res, ojson{{"prompt", st.tok->decode(ids, false)}});
}

void handle_tokenizer_info(State& st, const httplib::Request&, httplib::Response& res) {
  require_ready(st);
  auto tok_str = [&](std::optional<int32_t> id) -> ojson {
    if (!id || !st.tok->is_valid_id(*id)) return nullptr;
    return st.tok->token_bytes(*id);
  };
  ojson out{{"tokenizer_class", "PreTrainedTokenizerFast"},
            {"bos_token", tok_str(st.tok->bos_id())},
            {"eos_token", tok_str(st.tok->eos_id())},
            {"pad_token", tok_str(st.tok->pad_id())},
            {"unk_token", tok_str(st.tok->unk_id())},
            {"add_bos_token", st.tok->add_bos_token()},
            {"add_eos_token", st.tok->add_eos_token()},
            {"model_max_length", st.ctx},
            {"vocab_size", st.tok->vocab_size()},
            {"chat_template", st.chat_cfg.has_template() ? ojson(st.chat_cfg.select(false)) : ojson(nullptr)}};
  send_json(res, out);
}

void handle_apply_template(State& st, const httplib::Request& http_req, httplib::Response& res) {
  require_ready(st);
  const ojson body = parse_json_object(http_req.body);
  const ChatRequest cr = parse_chat_request(ojson{{"messages", body.value("messages", ojson())}}, st.limits);
  bool agp = true;
  if (auto a = body.find("add_generation_prompt"); a != body.end() && !a->is_null()) {
    if (!a->is_boolean()) throw bad_field("add_generation_prompt", "'add_generation_prompt' must be a boolean");
    agp = a->get<bool>();
  }
  ojson tools = nullptr;
  if (auto t = body.find("tools"); t != body.end() && !t->is_null()) {
    if (!t->is_array()) throw bad_field("tools", "'tools' must be a list");
    tools = *t;
  }
  send_json(res, ojson{{"prompt", render_chat_prompt(st.chat_cfg, cr.messages, tools, agp)}});
}

}  // namespace

// One forward pass of one token before /health says ok, like llama-server's warm-up: the first
// request then does not pay for faulting the weights in and starting the kernel threads. One token
// fills no block, so nothing enters the prefix cache.
static void warm_up(Engine& engine) {
  const SeqId seq = engine.create();
  Batch b;
  b.add(0, 0, seq, true);
  engine.forward(b);
  engine.release(seq);
}

int serve(const std::filesystem::path& model_dir, const LoadOptions& load, const ServerOptions& opts) {
  // Signals go to the thread that waits for them (below), never to httplib's or the scheduler's.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  State st;
  st.opts = opts;
  st.limits.max_n = opts.max_n;
  st.limits.max_logprobs = opts.max_logprobs;
  st.model_name = opts.model_name.empty() ? model_dir.filename().string() : opts.model_name;
  if (st.model_name.empty()) st.model_name = model_dir.parent_path().filename().string();
  st.created = unix_now();

  httplib::Server svr;
  const size_t threads = static_cast<size_t>(std::max(16, opts.parallel + opts.max_queue + 8));
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_payload_max_length(opts.max_body_bytes);
  svr.set_read_timeout(30);
  svr.set_write_timeout(30);

  auto wrap = [&st](std::function<void(const httplib::Request&, httplib::Response&)> fn) {
    return [&st, fn](const httplib::Request& req, httplib::Response& res) {
      try {
        fn(req, res);
      } catch (const ApiError& e) {
        res.status = e.status();
        res.set_content(dump(e.body()), "application/json");
      } catch (const std::exception& e) {
        send_error(res, 500, std::string("internal error: ") + e.what());
      }
      (void)st;
    };
  };

  svr.set_pre_routing_handler([&st](const httplib::Request& req, httplib::Response& res) {
    if (st.opts.api_key.empty() || req.path == "/health" || req.path == "/" || req.method == "OPTIONS")
      return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    if (auth == "Bearer " + st.opts.api_key) return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, 401,
               auth.empty() ? "You didn't provide an API key (Authorization: Bearer KEY)." : "Incorrect API key provided.",
               std::nullopt, "invalid_api_key");
    return httplib::Server::HandlerResponse::Handled;
  });
  svr.set_error_handler([&st](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty() || res.is_chunked_content_provider_) return;
    if (res.status == 404) send_error(res, 404, "Invalid URL (" + req.method + " " + req.path + ")", std::nullopt, "unknown_url");
    else if (res.status == 413)
      send_error(res, 413, "the request body is larger than the limit of " + std::to_string(st.opts.max_body_bytes) + " bytes",
                 std::nullopt, "request_too_large");
    else if (res.status == 405) send_error(res, 405, "method not allowed: " + req.method + " " + req.path);
    else send_error(res, res.status, "HTTP error " + std::to_string(res.status));
  });
  svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    send_error(res, 500, "internal error");
  });

  svr.Get("/health", [&st](const httplib::Request&, httplib::Response& res) {
    if (st.ready.load()) res.set_content(R"({"status":"ok"})", "application/json");
    else send_error(res, 503, "the model is loading", std::nullopt, "model_loading");
  });
  svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
    const std::string_view page = web_page();
    res.set_content(page.data(), page.size(), "text/html; charset=utf-8");
  });
  svr.Get("/v1/models", wrap([&st](const httplib::Request&, httplib::Response& res) {
            send_json(res, ojson{{"object", "list"},
                                 {"data", ojson::array({ojson{{"id", st.model_name},
                                                             {"object", "model"},
                                                             {"created", st.created},
                                                             {"owned_by", "stablelm"},
                                                             {"max_model_len", st.ctx}}})}});
          }));
  svr.Post("/v1/completions", wrap([&st](const httplib::Request& req, httplib::Response& res) {
             handle_completions(st, req, res);
           }));
  svr.Post("/v1/chat/completions", wrap([&st](const httplib::Request& req, httplib::Response& res) {
             handle_chat(st, req, res);
           }));
  svr.Post("/tokenize", wrap([&st](const httplib::Request& req, httplib::Response& res) { handle_tokenize(st, req, res); }));
  svr.Post("/detokenize",
           wrap([&st](const httplib::Request& req, httplib::Response& res) { handle_detokenize(st, req, res); }));
  svr.Get("/tokenizer_info",
          wrap([&st](const httplib::Request& req, httplib::Response& res) { handle_tokenizer_info(st, req, res); }));
  svr.Post("/apply-template",
           wrap([&st](const httplib::Request& req, httplib::Response& res) { handle_apply_template(st, req, res); }));
  svr.Get("/metrics", wrap([&st](const httplib::Request&, httplib::Response& res) {
            res.set_content(st.metrics.render(st.model_name), "text/plain; version=0.0.4");
          }));

  int port = opts.port;
  if (port == 0) {
    port = svr.bind_to_any_port(opts.host);
    if (port < 0) throw Error("serve: cannot bind " + opts.host + " to a free port");
  } else if (!svr.bind_to_port(opts.host, port)) {
    throw Error("serve: cannot bind " + opts.host + ":" + std::to_string(port) + " (in use, or not an address of this host)");
  }
  std::thread listener([&svr] { svr.listen_after_bind(); });
  std::printf("stablelm serve: listening on http://%s:%d (loading %s)\n", opts.host.c_str(), port,
              model_dir.string().c_str());
  std::fflush(stdout);

  try {
    st.model = Model::load(model_dir, load);
    st.tok = Tokenizer::from_dir(model_dir);
    st.defaults = GenerationConfig::for_model(model_dir, st.model->config());
    st.limits.vocab_size = st.model->config().vocab_size;  // before ready: handlers read it after
    st.chat_cfg = chat::ChatTemplateConfig::load(model_dir);
    st.ctx = opts.ctx_size > 0 ? opts.ctx_size : st.model->config().max_position_embeddings;
    if (st.ctx > st.model->config().max_position_embeddings)
      throw Error("--ctx-size " + std::to_string(st.ctx) + " exceeds the model's max_position_embeddings " +
                  std::to_string(st.model->config().max_position_embeddings));
    EngineOptions eo;
    eo.kv = opts.kv;
    eo.max_context = st.ctx;
    eo.kv_tokens = opts.kv_tokens > 0 ? opts.kv_tokens : st.ctx * std::max(1, opts.parallel);
    st.engine = std::make_unique<Engine>(*st.model, eo);
    warm_up(*st.engine);
    SchedulerOptions so;
    so.parallel = opts.parallel;
    so.max_queue = opts.max_queue;
    so.max_batch_tokens = opts.max_batch_tokens;
    so.prefill_chunk = opts.prefill_chunk;
    so.max_top_logprobs = opts.max_logprobs;
    st.scheduler = std::make_unique<Scheduler>(*st.engine, st.tok.get(), so, st.metrics);
    st.metrics.set_engine(st.engine->stats());
  } catch (...) {
    svr.stop();
    listener.join();
    throw;
  }
  st.ready = true;
  std::printf("stablelm serve: ready (model %s, context %lld, parallel %d)\n", st.model_name.c_str(),
              static_cast<long long>(st.ctx), opts.parallel);
  std::fflush(stdout);

  int sig = 0;
  sigwait(&sigs, &sig);
  std::fprintf(stderr, "stablelm serve: signal %d: finishing the running requests\n", sig);
  st.scheduler->drain();
  const auto deadline = Clock::now() + std::chrono::duration<double>(opts.shutdown_grace_seconds);
  while (!st.scheduler->idle() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  st.scheduler->cancel_running();
  while (!st.scheduler->idle()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // Give the HTTP threads a moment to write the last chunks before the sockets close.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  svr.stop();
  listener.join();
  st.scheduler->stop();
  return 0;
}

}  // namespace stablelm::server
