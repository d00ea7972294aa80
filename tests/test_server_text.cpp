// The server's text output: a stream never splits a UTF-8 character nor sends text that may still
// become a stop string, and what it sends adds up to the whole text cut before the stop string.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <numeric>
#include <random>

#include "server/text_output.h"
#include "server/token_logprob.h"
#include "stablelm/eval.h"
#include "stablelm/tokenizer.h"

namespace {

const std::filesystem::path kModel = std::filesystem::path(STABLELM_FIXTURES_DIR) / "models/tiny-stablelm-2";

TEST(ServerText, StreamPiecesAddUpAndStopAtTheStopString) {
  auto tok = stablelm::Tokenizer::from_dir(kModel);
  const std::string text = "Hello wörld 日本語 and more text — the end";
  const std::vector<int32_t> ids = tok->encode(text, false);
  for (const std::string stop : {"日本", "the", "d", "nowhere"}) {
    stablelm::server::TextAssembler ta(*tok, {stop});
    std::string streamed, raw;
    for (int32_t id : ids) {
      raw += tok->token_bytes(id);
      if (raw.find(stop) != std::string::npos) {  // the generator stops at this token
        streamed += ta.push(id);
        EXPECT_EQ(streamed.find(stop), std::string::npos);
        break;
      }
      const std::string piece = ta.push(id);
      EXPECT_TRUE(stablelm::server::utf8_valid(piece)) << stop;
      streamed += piece;
      EXPECT_EQ(streamed.find(stop), std::string::npos) << "sent text that holds the stop string " << stop;
    }
    const size_t at = text.find(stop);
    streamed += ta.finish(at == std::string::npos ? -1 : 0);
    EXPECT_EQ(streamed, text.substr(0, at)) << stop;
  }
}

TEST(ServerText, TokenDisplayMarksPartialCharacters) {
  auto tok = stablelm::Tokenizer::from_dir(kModel);
  for (int32_t id : tok->encode("日本語 😀", false)) {
    const std::string d = stablelm::server::token_display(*tok, id);
    const std::string b = tok->token_bytes(id);
    if (stablelm::server::utf8_valid(b)) EXPECT_EQ(d, b);
    else EXPECT_EQ(d.rfind("bytes:\\x", 0), 0u) << d;
  }
}

TEST(ServerText, Utf8CompletePrefix) {
  const std::string s = "a\xe6\x97\xa5";  // a + 日
  EXPECT_EQ(stablelm::server::utf8_complete_prefix(s), 4u);
  EXPECT_EQ(stablelm::server::utf8_complete_prefix(s.substr(0, 3)), 1u);
  EXPECT_EQ(stablelm::server::utf8_complete_prefix(s.substr(0, 2)), 1u);
  EXPECT_EQ(stablelm::server::utf8_chars(s), 2);
}

}  // namespace

namespace stablelm::server {
namespace {

using nlohmann::ordered_json;

// Feeds an answer piece by piece (one logprobs entry per piece) and collects what a stream sends.
struct Sent {
  std::string text;
  size_t logprobs = 0;
  std::optional<std::vector<chat::ToolCall>> calls;
  int held_pieces = 0;  // pieces that sent nothing
};
Sent stream(bool active, const std::vector<std::string>& pieces) {
  ToolCallGate gate(active);
  Sent s;
  for (size_t i = 0; i < pieces.size(); ++i) {
    auto out = gate.push(pieces[i], ordered_json::array({ordered_json{{"piece", i}}}), i + 1 == pieces.size());
    if (out.text.empty() && out.logprobs.empty() && !out.calls) ++s.held_pieces;
    s.text += out.text;
    s.logprobs += out.logprobs.size();
    if (out.calls) s.calls = out.calls;
  }
  return s;
}

TEST(ToolCallGate, PlainTextPassesAsSoonAsItCannotBeACall) {
  const Sent s = stream(true, {" ", "Hello", " there", "."});
  EXPECT_EQ(s.text, " Hello there.");
  EXPECT_EQ(s.logprobs, 4u);
  EXPECT_FALSE(s.calls);
  EXPECT_EQ(s.held_pieces, 1);  // only the leading space waited
}

TEST(ToolCallGate, ACallIsHeldWholeAndReturnedAsCalls) {
  const Sent s = stream(true, {"[{\"name\": \"f\", ", "\"arguments\": {\"a\": 1}", "}]"});
  EXPECT_EQ(s.text, "");
  ASSERT_TRUE(s.calls);
  EXPECT_EQ(s.calls->front().name, "f");
  EXPECT_EQ(s.logprobs, 3u);  // every entry, with the calls
  const Sent h = stream(true, {"<tool", "_call>{\"name\": \"g\"}", "</tool_call>"});
  ASSERT_TRUE(h.calls);
  EXPECT_EQ(h.calls->front().name, "g");
}

TEST(ToolCallGate, HeldTextThatEndsAsNoCallIsSentWhole) {
  for (const std::vector<std::string>& pieces :
       {std::vector<std::string>{"[1, ", "2]"}, {"{\"name\": ", "\"f\""}, {"<tool_", "bar>"}}) {
    const Sent s = stream(true, pieces);
    std::string whole;
    for (const auto& p : pieces) whole += p;
    EXPECT_EQ(s.text, whole);
    EXPECT_EQ(s.logprobs, pieces.size());
    EXPECT_FALSE(s.calls);
  }
}

TEST(ToolCallGate, InactivePassesEverythingThrough) {
  const Sent s = stream(false, {"[{\"name\": ", "\"f\"}]"});
  EXPECT_EQ(s.text, "[{\"name\": \"f\"}]");
  EXPECT_FALSE(s.calls);
  EXPECT_EQ(s.held_pieces, 0);
}

}  // namespace
}  // namespace stablelm::server

// ---- token_logprob's top list: the k largest logits, ties to the lower id -------------------

TEST(TokenLogprob, TopListIsTheSortedPrefixWithTiesToTheLowerId) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    // Few distinct values (many ties), lengths around the 64-entry chunks, -inf entries.
    const size_t n = 1 + rng() % 300;
    std::vector<float> row(n);
    for (auto& v : row) v = static_cast<float>(static_cast<int>(rng() % 7)) - 3.0f;
    for (int j = 0; j < 3; ++j) row[rng() % n] = -std::numeric_limits<float>::infinity();
    std::vector<int32_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return row[a] > row[b]; });
    for (int k : {1, 2, 5, 20, 64, 400}) {
      const stablelm::server::TokenLogprob t = stablelm::server::token_logprob(row, 0, k);
      ASSERT_EQ(t.top.size(), std::min<size_t>(static_cast<size_t>(k), n));
      for (size_t i = 0; i < t.top.size(); ++i) {
        ASSERT_EQ(t.top[i].first, order[i]) << "n=" << n << " k=" << k << " i=" << i;
        EXPECT_EQ(t.top[i].second, stablelm::eval::log_softmax_of(row)(row[static_cast<size_t>(order[i])]));
      }
    }
  }
}
