// Property tests of the template lexer, parser and sandbox: random and mutated templates never
// crash or hang; every failure is a TemplateError, and syntax errors name a line and column that
// exist in the template. (Seeded: the same templates every run; CI also runs this under ASan+UBSan.)
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>

#include "stablelm/chat.h"
#include "testutil.h"

namespace {

using nlohmann::ordered_json;
namespace chat = stablelm::chat;

chat::RenderOptions small_limits() {
  chat::RenderOptions o;
  o.now = "2024-09-26T13:45:30";
  o.limits.max_call_depth = 40;
  o.limits.max_loop_iterations = 20000;
  o.limits.max_output_bytes = 1 << 20;
  return o;
}

ordered_json variables() {
  return ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                 {"role": "assistant", "content": null, "tool_calls": [{"type": "function",
                  "function": {"name": "f", "arguments": {"a": 1}}}]},
                 {"role": "tool", "content": "r"}, {"role": "user", "content": [{"type": "text", "text": "t"}]}],
    "tools": [{"type": "function", "function": {"name": "f", "description": "d",
               "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}}],
    "documents": null, "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>",
    "x": 3, "s": "hello", "l": [1, 2, 3], "d": {"k": "v"}})");
}

size_t count_lines(const std::string& t) {
  // Lines of the template as the lexer sees them (\r\n and \r are one newline).
  size_t n = 1;
  for (size_t i = 0; i < t.size(); ++i)
    if (t[i] == '\n' || (t[i] == '\r' && (i + 1 >= t.size() || t[i + 1] != '\n'))) ++n;
  return n;
}

// Parses and (when it parses) renders; returns "ok", "syntax" or "runtime". Fails the test on any
// exception that is not a TemplateError, or a syntax error without a valid position.
std::string exercise(const std::string& text, const ordered_json& vars) {
  std::unique_ptr<chat::Template> t;
  try {
    t = std::make_unique<chat::Template>(text);
  } catch (const chat::TemplateError& e) {
    EXPECT_EQ(e.type(), "TemplateSyntaxError") << text;
    EXPECT_GE(e.line(), 1) << text;
    EXPECT_LE(static_cast<size_t>(e.line()), count_lines(text)) << e.what() << "\n" << text;
    EXPECT_GE(e.column(), 1) << text;
    EXPECT_NE(std::string(e.what()).find("(line "), std::string::npos) << e.what();
    return "syntax";
  } catch (const std::exception& e) {
    ADD_FAILURE() << "parse threw a non-TemplateError: " << e.what() << "\n" << text;
    return "bad";
  }
  try {
    std::string out = t->render(vars, small_limits());
    EXPECT_LE(out.size(), size_t{1} << 20);
    return "ok";
  } catch (const chat::TemplateError& e) {
    EXPECT_FALSE(e.type().empty());
    return "runtime";
  } catch (const std::exception& e) {
    ADD_FAILURE() << "render threw a non-TemplateError: " << e.what() << "\n" << text;
    return "bad";
  }
}

const std::vector<std::string>& fragments() {
  static const std::vector<std::string> f = {
      "{{", "}}", "{%", "%}", "{#", "#}", "{%-", "-%}", "{{-", "-}}", "{%+", "+%}", " ", "\n", "\r\n", "\t",
      "if", "elif", "else", "endif", "for", "in", "endfor", "set", "endset", "macro", "endmacro", "call", "endcall",
      "filter", "endfilter", "raw", "endraw", "generation", "endgeneration", "break", "continue", "with", "endwith",
      "not", "and", "or", "is", "defined", "none", "true", "loop", "loop.index", "messages", "m", "x", "s", "l", "d",
      "ns", "namespace(a=1)", "range(5)", "(", ")", "[", "]", "{", "}", ",", ":", ".", "|", "~", "+", "-", "*", "/",
      "//", "%", "**", "==", "!=", "<", ">=", "=", "'", "\"", "'str'", "\"q\\\"\"", "'\\n'", "1", "2.5", "0x1f",
      "1e3", "|length", "|tojson", "|trim", "|items", "|join(',')", "|map(attribute='role')", "|selectattr('role')",
      "|default('z')", "|string", "|upper", ".strip()", ".split(' ')", "['role']", "[0]", "[-1]", "[::-1]", "[1:]",
      "raise_exception('r')", "strftime_now('%Y')", "é", "\xF0\x9F\x98\x80", "text", "caller()", "varargs",
  };
  return f;
}

TEST(ChatFuzz, RandomTemplates) {
  std::mt19937 rng(12345);
  const auto vars = variables();
  std::map<std::string, int> outcomes;
  for (int n = 0; n < 3000; ++n) {
    std::string t;
    const int len = 1 + static_cast<int>(rng() % 40);
    for (int k = 0; k < len; ++k) t += fragments()[rng() % fragments().size()];
    ++outcomes[exercise(t, vars)];
  }
  // Structured ones: a well-formed tag around random expression fragments.
  for (int n = 0; n < 3000; ++n) {
    std::string e;
    const int len = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < len; ++k) e += fragments()[12 + rng() % (fragments().size() - 12)] + (rng() % 2 ? " " : "");
    static const char* const shapes[] = {"{{ @ }}", "{% if @ %}a{% endif %}", "{% for a in @ %}{{ a }}{% endfor %}",
                                         "{% set v = @ %}{{ v }}", "x{{- @ -}}y"};
    std::string shape = shapes[rng() % 5];
    shape.replace(shape.find('@'), 1, e);
    ++outcomes[exercise(shape, vars)];
  }
  EXPECT_EQ(outcomes["bad"], 0);
  EXPECT_GT(outcomes["ok"], 100);
  EXPECT_GT(outcomes["syntax"], 100);
  EXPECT_GT(outcomes["runtime"], 10);
}

TEST(ChatFuzz, MutatedFixtureTemplates) {
  std::mt19937 rng(777);
  const auto vars = variables();
  std::map<std::string, int> outcomes;
  const auto dir = stablelm::test::fixtures_dir() / "chat-templates";
  std::vector<std::string> templates;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.is_directory()) templates.push_back(stablelm::test::read_file(e.path() / "template.jinja"));
  std::sort(templates.begin(), templates.end());
  ASSERT_GE(templates.size(), 20u);
  for (const auto& base : templates) {
    EXPECT_NE(exercise(base, vars), "syntax");
    for (int n = 0; n < 60; ++n) {
      std::string t = base;
      const int edits = 1 + static_cast<int>(rng() % 3);
      for (int k = 0; k < edits && !t.empty(); ++k) {
        size_t pos = rng() % t.size();
        size_t len = std::min<size_t>(1 + rng() % 12, t.size() - pos);
        switch (rng() % 4) {
          case 0: t.erase(pos, len); break;                                                  // delete
          case 1: t.insert(pos, fragments()[rng() % fragments().size()]); break;              // insert
          case 2: t.insert(rng() % t.size(), t.substr(pos, len)); break;                      // duplicate
          default: t[pos] = "{}%#-+|()[]'\" \nxa1"[rng() % 19]; break;                        // replace
        }
      }
      ++outcomes[exercise(t, vars)];
    }
  }
  EXPECT_EQ(outcomes["bad"], 0);
  EXPECT_GT(outcomes["syntax"], 50);
  EXPECT_GT(outcomes["ok"] + outcomes["runtime"], 50);
}

// ---- the sandbox limits: errors that name the place, never a hang or a crash ----------------

chat::TemplateError render_error(const std::string& text, const chat::RenderOptions& opts = small_limits()) {
  try {
    chat::Template(text).render(ordered_json::object(), opts);
  } catch (const chat::TemplateError& e) {
    return e;
  }
  ADD_FAILURE() << "no error for " << text;
  return chat::TemplateError("", "");
}

TEST(ChatSandbox, RecursionIsBounded) {
  auto e = render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}\n{{ f(0) }}");
  EXPECT_EQ(e.type(), "SandboxLimit");
  EXPECT_NE(std::string(e.what()).find("(line 1, column"), std::string::npos) << e.what();
  // The default limit holds with the default stack too.
  e = render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", chat::RenderOptions{});
  EXPECT_EQ(e.type(), "SandboxLimit");
}

TEST(ChatSandbox, LoopIterationsAreBounded) {
  auto e = render_error("ab\n{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}");
  EXPECT_EQ(e.type(), "SandboxLimit");
  EXPECT_EQ(e.line(), 2);
  EXPECT_NE(std::string(e.what()).find("loop iterations"), std::string::npos);
}

TEST(ChatSandbox, OutputIsBounded) {
  auto e = render_error("{% set s = 'x' * 100000 %}{% for i in range(1000) %}{{ s }}{% endfor %}");
  EXPECT_EQ(e.type(), "SandboxLimit");
  EXPECT_NE(std::string(e.what()).find("output"), std::string::npos);
  EXPECT_EQ(render_error("{{ 'x' * 1000000000000 }}").type(), "MemoryError");
  EXPECT_EQ(render_error("{{ [1, 2] * 1000000000000 }}").type(), "MemoryError");
}

TEST(ChatSandbox, DeepNestingIsASyntaxError) {
  for (const char* open : {"(", "[", "{{ -", "not "}) {
    std::string t = "{{ ";
    for (int i = 0; i < 5000; ++i) t += open;
    try {
      chat::Template x(t + "1");
      ADD_FAILURE() << "parsed";
    } catch (const chat::TemplateError& e) {
      EXPECT_EQ(e.type(), "TemplateSyntaxError");
    }
  }
  std::string t;
  for (int i = 0; i < 5000; ++i) t += "{% if true %}";
  EXPECT_THROW(chat::Template x(t), chat::TemplateError);
}

TEST(ChatSandbox, NoFileOrProcessAccess) {
  // The tags that would read other templates are errors; Python internals are unreachable.
  for (const char* t : {"{% include 'x.jinja' %}", "{% import 'x' as y %}", "{% extends 'base' %}"})
    EXPECT_THROW(chat::Template x(t), chat::TemplateError) << t;
  EXPECT_EQ(chat::Template("[{{ s.__class__ }}][{{ range.__globals__ }}]").render(ordered_json{{"s", "x"}}), "[][]");
  EXPECT_EQ(render_error("{{ ''.__class__.__mro__ }}").type(), "SecurityError");
}

}  // namespace
