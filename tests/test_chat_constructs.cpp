// One case per Jinja construct (tests/chat/jinja_constructs.json), the expectations rendered by
// Python jinja2 configured as transformers configures it (tests/chat/gen_constructs.py; never
// edited by hand). Renderings and runtime error messages must match exactly; syntax errors must be
// syntax errors on the same line (our messages add the column).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "stablelm/chat.h"
#include "testutil.h"

namespace {

using nlohmann::ordered_json;
namespace chat = stablelm::chat;

const ordered_json& doc() {
  static const ordered_json d = ordered_json::parse(
      stablelm::test::read_file(std::filesystem::path(STABLELM_SOURCE_DIR) / "tests" / "chat" / "jinja_constructs.json"));
  return d;
}

class Construct : public ::testing::TestWithParam<size_t> {};

TEST_P(Construct, MatchesJinja2) {
  const ordered_json& c = doc()["cases"][GetParam()];
  const std::string tmpl_text = c["template"].get<std::string>();
  SCOPED_TRACE(c["name"].get<std::string>() + ": " + tmpl_text);
  chat::RenderOptions opts;
  opts.now = doc()["now"].get<std::string>();
  std::string out, error, type;
  int line = 0;
  try {
    chat::Template t(tmpl_text);
    out = t.render(doc()["variables"], opts);
  } catch (const chat::TemplateError& e) {
    error = e.what();
    type = e.type();
    line = e.line();
  }
  if (c.contains("expected")) {
    EXPECT_EQ(error, "");
    EXPECT_EQ(out, c["expected"].get<std::string>());
    return;
  }
  const std::string want_type = c["error_type"].get<std::string>();
  if (want_type == "TemplateSyntaxError" || want_type == "TemplateAssertionError" || want_type == "SyntaxError") {
    EXPECT_EQ(type, "TemplateSyntaxError") << error;
    EXPECT_GT(line, 0);
    EXPECT_NE(error.find("line "), std::string::npos) << error;
    EXPECT_NE(error.find("column "), std::string::npos) << error;
    if (c.contains("error_line")) {
      EXPECT_EQ(line, c["error_line"].get<int>()) << error;
    }
    return;
  }
  EXPECT_EQ(error, c["error"].get<std::string>());
  EXPECT_EQ(type, want_type);
  EXPECT_GT(line, 0) << "runtime errors carry the template position";
}

INSTANTIATE_TEST_SUITE_P(Jinja2, Construct, ::testing::Range<size_t>(0, doc()["cases"].size()),
                         [](const ::testing::TestParamInfo<size_t>& p) {
                           return doc()["cases"][p.param]["name"].get<std::string>();
                         });

TEST(ChatConstructs, ExpectationsComeFromJinja2) {
  EXPECT_EQ(doc()["generator"], "tests/chat/gen_constructs.py");
  EXPECT_GE(doc()["cases"].size(), 150u);
}

// The error of a runtime failure names the place: line and column of the expression.
TEST(ChatConstructs, RuntimeErrorPosition) {
  chat::Template t("line1\n{% for m in messages %}\n  {{ m.content + 1 }}\n{% endfor %}");
  try {
    t.render(ordered_json{{"messages", ordered_json::array({{{"content", "x"}}})}});
    FAIL() << "no error";
  } catch (const chat::TemplateError& e) {
    EXPECT_EQ(std::string(e.what()), "can only concatenate str (not \"int\") to str");
    EXPECT_EQ(e.line(), 3);
    EXPECT_EQ(e.column(), 16);  // the '+'
  }
}

}  // namespace
