#!/usr/bin/env python3
"""Differential test of the chat-template interpreter against Python's jinja2, configured as
transformers configures it (the fixtures' reference renderer, chat-templates/render.py, imported
as is): seeded random conversations -- system/user/assistant/tool turns, OpenAI tool calls with
object or string arguments, content parts, None content, tools and documents, Jinja-looking and
non-ASCII text, odd whitespace -- rendered with every template of the fixtures by both, through
`stablelm chat-template --model DIR --jsonl`. Renderings must be byte-equal; when jinja2 fails,
ours must fail with the same message.

Usage: template_vs_jinja2.py STABLELM_CLI FIXTURES_DIR [CASES_PER_TEMPLATE] [SEED]
Exits 77 (ctest's skip) when jinja2 cannot be imported.
"""

import json
import os
import random
import subprocess
import sys

cli, fixtures = sys.argv[1], sys.argv[2]
per_template = int(sys.argv[3]) if len(sys.argv) > 3 else 60
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
sys.path.insert(0, os.path.join(fixtures, "chat-templates"))
try:
    import render  # noqa: E402  (needs jinja2)
except ImportError as e:
    print("skipped: %s (scripts/install-deps.sh installs python3-jinja2)" % e)
    sys.exit(77)

rng = random.Random(seed)
WORDS = ["Hello", "world", "what", "is", "2+2", "?", "Weather in Tokyo", "héllo", "日本語", "😀", "{{ x }}",
         "{% if %}", "{#", "<|im_end|>", "</s>", "[INST]", "\\n", "'quoted'", '"dq"', "tab\there", "  lead",
         "trail  ", "\n", "\n\n", "\r\n", "<think>", "</think>", "a" * 30, "Ω", "\u200b", "-", "* item", "#"]


def text():
    n = rng.randint(0, 8)
    s = "".join(rng.choice(WORDS) + rng.choice(["", " ", " ", "\n"]) for _ in range(n))
    return s


def tool_schema(name):
    props = {"city": {"type": "string", "description": text() or "c"}}
    if rng.random() < 0.5:
        props["unit"] = {"type": "string", "enum": ["celsius", "fahrenheit"]}
    if rng.random() < 0.3:
        props["days"] = {"type": "integer", "minimum": 1}
    fn = {"name": name, "description": text() or "d", "parameters": {"type": "object", "properties": props,
                                                                       "required": ["city"]}}
    if rng.random() < 0.3:  # key order is part of what templates print
        fn = dict(reversed(list(fn.items())))
    return {"type": "function", "function": fn}


def tool_call(i, name):
    args = {"city": text() or "Paris"}
    if rng.random() < 0.3:
        args["days"] = rng.randint(1, 9)
    call = {"id": "call_%d" % i, "type": "function",
            "function": {"name": name, "arguments": json.dumps(args) if rng.random() < 0.5 else args}}
    return call


def content():
    r = rng.random()
    if r < 0.1:
        return [{"type": "text", "text": text()}]
    return text()


def conversation():
    msgs = []
    names = ["get_weather", "search", "calc"]
    if rng.random() < 0.5:
        msgs.append({"role": "system", "content": text()})
    turns = rng.randint(1, 4)
    for t in range(turns):
        msgs.append({"role": "user", "content": content()})
        if t == turns - 1 and rng.random() < 0.5:
            break
        if rng.random() < 0.25:
            calls = [tool_call(t * 10 + k, rng.choice(names)) for k in range(rng.randint(1, 2))]
            msgs.append({"role": "assistant", "content": None if rng.random() < 0.7 else text(), "tool_calls": calls})
            for c in calls:
                m = {"role": "tool", "tool_call_id": c["id"], "content": text() or "22"}
                if rng.random() < 0.5:
                    m["name"] = c["function"]["name"]
                msgs.append(m)
        msgs.append({"role": "assistant", "content": content()})
    if rng.random() < 0.05:  # an occasional odd role order
        rng.shuffle(msgs)
    case = {"messages": msgs, "add_generation_prompt": rng.random() < 0.7,
            "tools": [tool_schema(n) for n in names[:rng.randint(1, 3)]] if rng.random() < 0.4 else None,
            "documents": [{"title": text() or "t", "text": text()}] if rng.random() < 0.15 else None,
            "now": "2024-09-26T13:45:30"}
    if rng.random() < 0.2:
        case["extra_context"] = {"enable_thinking": rng.random() < 0.5}
    return case


failures = 0
total = 0
errors = 0
base = os.path.join(fixtures, "chat-templates")
for tid in sorted(os.listdir(base)):
    tdir = os.path.join(base, tid)
    if not os.path.isfile(os.path.join(tdir, "tokenizer_config.json")):
        continue
    with open(os.path.join(tdir, "tokenizer_config.json"), encoding="utf-8") as f:
        tokens = json.load(f)
    with open(os.path.join(tdir, "template.jinja"), encoding="utf-8", newline="") as f:
        template = f.read()
    cases = [conversation() for _ in range(per_template)]
    # The tool_use template when tools are given, as transformers picks (the CLI does the same).
    want = []
    for c in cases:
        chosen = template
        ct = tokens.get("chat_template")
        if isinstance(ct, list):
            named = {t["name"]: t["template"] for t in ct}
            chosen = named.get("tool_use") if c["tools"] and "tool_use" in named else named.get("default", ct[0]["template"])
        want.append(render.render_case(chosen, c, tokens))
    lines = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases)
    out = subprocess.run([cli, "chat-template", "--model", tdir, "--jsonl"], input=lines.encode("utf-8"),
                         capture_output=True)
    if out.returncode != 0:
        print("%s: chat-template exited %d: %s" % (tid, out.returncode, out.stderr.decode()[:500]))
        failures += 1
        continue
    got = [json.loads(l) for l in out.stdout.decode("utf-8").splitlines()]
    for c, w, g in zip(cases, want, got):
        total += 1
        errors += "error" in w
        ok = ("expected" in w and g.get("text") == w["expected"]) or ("error" in w and g.get("error") == w["error"])
        if not ok:
            failures += 1
            if failures <= 8:
                print("MISMATCH %s\n  case: %s\n  jinja2: %s\n  ours:   %s" % (
                    tid, json.dumps(c, ensure_ascii=False)[:600], json.dumps(w, ensure_ascii=False)[:400],
                    json.dumps(g, ensure_ascii=False)[:400]))
    if len(got) != len(cases):
        print("%s: %d answers for %d cases" % (tid, len(got), len(cases)))
        failures += 1
print("templates vs jinja2: %d renderings (%d of them errors in both), %d mismatches" % (total, errors, failures))
sys.exit(1 if failures else 0)
