#!/usr/bin/env python3
"""Differential test of the regex automaton (src/sampling/regex.*) against Python's re, through
tests/sampling/schema_walk's regex modes.

Python's re is not ECMAScript: its \\d \\w \\s are Unicode-wide, its '.' stops only at \\n, its '$'
also matches before a final newline, and it spells named groups (?P<n>...). So each pattern is
translated to the Python pattern that means what ECMAScript (with the 'u' flag) means -- explicit
classes for \\d \\w \\s and '.', \\Z for '$' -- and then, for every pattern, in both readings
(full: the whole text, as guided_regex; search: anywhere, as JSON Schema's pattern):

1. soundness: random texts the automaton accepts (random walks over its bytes) must match;
2. exactness: those texts, edited at random with characters from a pool that includes the ones
   the dialects disagree on, get the same verdict from the automaton and from re;
3. refusals: unsupported or malformed patterns are refused with an error.

Usage: regex_vs_python.py SCHEMA_WALK [SEED]
"""

import json
import random
import re
import subprocess
import sys

walker = sys.argv[1]
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
rng = random.Random(seed)

PATTERNS = [
    r"^\d{3}-\d{4}$",
    r"[A-Z][a-z]+",
    r"^(foo|bar)+baz?$",
    r"^[^@\s]+@[^@\s]+\.[a-z]{2,6}$",
    r"^\w+$",
    r"colou?r",
    r"^(\+|-)?\d+(\.\d+)?([eE][+-]?\d+)?$",
    r"^[\u00e9\u20ac-\u20af]+x$",
    r"^(?:a|b)*abb$",
    r"^(?<year>\d{4})-(?<month>0[1-9]|1[0-2])$",
    r"^.{2,5}$",
    r"^[a-c]{0,3}d{2,}$",
    r"a|^b|c$",
    r"^$",
    r"",
    r"x*",
    r"^[\]\-\\]+$",
    r"^\x41\u0042\t?$",
    r"^[^a-z]*$",
    r"^(ab|a)(bc|c)?$",
    r"(^a|b)",
    r"^\S+\s\S+$",
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$",
    r"a{2}b{1,}c{0,1}",
    r"^{a}$",
    r"^[\w.-]+$",
    r"^\D\W?$",
    r"^(a|b|)+$",
    r"^((a+)?b*)*c$",
    r"^\u{1F600}+\uD83D\uDE00?$",
    r"é+.😀",
    r"^[^\n]*$",
    r"^\cJ?\/\.\*$",
    r"^[\s\d]{1,3}$",
    r"^(?:[01]\d|2[0-3]):[0-5]\d$",
    r"[.]$",
]

REFUSED = [
    r"(a)\1", r"(?=a)", r"(?!a)b", r"(?<=a)b", r"(?<!a)b", r"\bword\b", r"a\B", r"\p{L}", r"\P{Lu}", r"a**",
    r"(?i)a", r"x{2000}", r"(", r"a)", r"[a", r"a{3,2}", r"[z-a]", "\\", r"a^b", r"(a$)b", r"*a", r"(?P<n>a)",
    r"\k<n>", r"[\d-z]", r"\e", r"a{1,3}{2}", r"^*", r"\0\01",
]

ECMA_SPACE = "\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
ECMA_CLASS = {"d": "0-9", "w": "0-9A-Za-z_", "s": ECMA_SPACE}


def to_python(p):
    """The Python pattern that reads as p reads in ECMAScript (for the constructs in PATTERNS)."""
    out = []
    i = 0
    in_class = False
    while i < len(p):
        c = p[i]
        if c == "\\":
            e = p[i + 1]
            if e.lower() in ECMA_CLASS:
                body = ECMA_CLASS[e.lower()]
                if in_class:
                    assert e.islower(), "a negated class escape inside a class: not translatable"
                    out.append(body)
                else:
                    out.append(("[" if e.islower() else "[^") + body + "]")
                i += 2
            elif e == "u" and p[i + 2] == "{":
                j = p.index("}", i)
                out.append("\\U%08x" % int(p[i + 3:j], 16))
                i = j + 1
            elif e == "u" and p[i + 2:i + 4].lower() == "d8" and p[i + 6:i + 8] == "\\u":
                hi, lo = int(p[i + 2:i + 6], 16), int(p[i + 8:i + 12], 16)
                out.append("\\U%08x" % (0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)))
                i += 12
            elif e == "c":
                out.append("\\x%02x" % (ord(p[i + 2]) % 32))
                i += 3
            else:
                out.append(p[i:i + 2])
                i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            out.append(c)
        elif c == "[":
            in_class = True
            out.append(c)
            if p[i + 1:i + 2] == "]":  # ECMAScript's [] is an empty class; Python has none
                out[-1] = "(?!)"
                in_class = False
                i += 1
        elif c == ".":
            out.append("[^\n\r\u2028\u2029]")
        elif c == "$":
            out.append(r"\Z")
        elif p.startswith("(?<", i) and p[i + 3] not in "=!":
            out.append("(?P<")
            i += 3
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def run_walker(args, stdin=None):
    r = subprocess.run([walker] + args, input=stdin, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise SystemExit("schema_walk %s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr))
    return r.stdout


POOL = list("ab019xyzAZ_-.:@ \t\n\r\x0b\x1c\x85\ufeff\u2028é€😀\u0663") + ["", "ab", "12"]


def edit(text):
    t = list(text)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(3)
        k = rng.randint(0, len(t))
        if op == 0 and t:
            del t[min(k, len(t) - 1)]
        elif op == 1:
            t.insert(k, rng.choice(POOL))
        elif t:
            t[min(k, len(t) - 1)] = rng.choice(POOL)
    return "".join(t)


failures = []
totals = {"samples": 0, "edits": 0, "edits_matching": 0}
for p in PATTERNS:
    py = re.compile(to_python(p))
    for how in ("full", "search"):
        verdict = py.fullmatch if how == "full" else py.search
        out = run_walker(["regex-sample", how, p, str(seed * 7919 + PATTERNS.index(p)), "40"])
        if out.startswith("error:"):
            failures.append("%s (%s): refused: %s" % (p, how, out.strip()))
            continue
        samples = [json.loads(line) for line in out.split("\n") if line]
        for s in samples:
            totals["samples"] += 1
            if not verdict(s):
                failures.append("%s (%s): sample %r does not match" % (p, how, s))
        edits = [edit(rng.choice(samples)) for _ in range(150)] if samples else []
        edits += ["", "a", "\n", "abb", "123-4567", "2024-02-29T12:00:00Z"]
        got = run_walker(["regex-check", how, p], "".join(json.dumps(e) + "\n" for e in edits)).split("\n")
        for e, g in zip(edits, got):
            totals["edits"] += 1
            want = verdict(e) is not None
            totals["edits_matching"] += want
            if (g == "1") != want:
                failures.append("%s (%s): %r: automaton says %s, re says %s" % (p, how, e, g, want))

for p in REFUSED:
    out = run_walker(["regex-sample", "full", p, "1", "1"])
    if not out.startswith("error: regex: "):
        failures.append("%r was not refused: %r" % (p, out[:80]))

print("%d patterns x 2 readings: %d samples matched, %d edits (%d matching) judged as re judges them; %d refused"
      % (len(PATTERNS), totals["samples"], totals["edits"], totals["edits_matching"], len(REFUSED)))
for f in failures[:20]:
    print("FAIL", f)
sys.exit(1 if failures else 0)
