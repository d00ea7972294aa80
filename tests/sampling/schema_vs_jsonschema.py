#!/usr/bin/env python3
"""Differential test of the JSON Schema recognizer (src/sampling/schema_prefix.*) against Python's
jsonschema, the reference validator, through tests/sampling/schema_walk:

1. soundness: random complete outputs the recognizer allows (random walks over the bytes it
   accepts, half of them under the bounded whitespace rule generation uses) must parse as JSON
   and validate against the schema;
2. mutations of those outputs (a key dropped, added or renamed, a value of another kind, a list
   shortened or lengthened, a string grown or cut) the recognizer accepts must validate too;
3. completeness: the outputs re-serialized compactly (json.dumps, key order kept), and the valid
   instances listed below, must be accepted -- they are in the form generation uses (properties
   in the schema's order), and jsonschema must first agree that they are valid.

Usage: schema_vs_jsonschema.py SCHEMA_WALK [SEED]
Exits 77 (ctest's skip) when jsonschema cannot be imported.
"""

import copy
import datetime
import json
import os
import random
import re
import subprocess
import sys
import tempfile

try:
    import jsonschema
except ImportError as e:
    print("skipped: %s (scripts/install-deps.sh installs python3-jsonschema)" % e)
    sys.exit(77)

walker = sys.argv[1]
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
rng = random.Random(seed)

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 8},
        "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "maxItems": 3},
        "ok": {"type": "boolean"},
        "next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]},
    },
    "required": ["name", "age"],
}

# (schema, valid instances in generation's form)
CASES = [
    (PERSON, [{"name": "Ann", "age": 3}, {"name": "", "age": -1, "tags": [], "next": None},
              {"name": "été😀", "age": 0, "ok": False, "next": {"name": "B", "age": 1, "tags": ["c", "a"]}}]),
    ({  # pydantic's shape: $defs, Optional, lists of models
        "$defs": {
            "Item": {"type": "object", "title": "Item", "description": "one line",
                     "properties": {"sku": {"type": "string", "minLength": 1}, "qty": {"type": "integer", "default": 1},
                                    "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}},
                     "required": ["sku"], "additionalProperties": False},
        },
        "type": "object",
        "properties": {"order_id": {"type": "string", "format": "uuid"},
                       "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "minItems": 1},
                       "total": {"type": "number"}},
        "required": ["order_id", "items", "total"],
    }, [{"order_id": "123e4567-e89b-12d3-a456-426614174000", "items": [{"sku": "a"}], "total": 1.5},
        {"order_id": "00000000-0000-0000-0000-00000000000A", "items": [{"sku": "a", "qty": 2, "note": None}, {"sku": "\n", "note": "n"}], "total": -2}]),
    ({"type": "object"}, [{}, {"a": 1, "b": [True, None, {"c": "d"}]}]),
    ({"type": "object", "properties": {"id": {"type": "integer"}}, "additionalProperties": {"type": "number"}},
     [{}, {"id": 1}, {"id": 1, "x": 2.5, "y": -3}, {"x": 0}]),
    ({"enum": ["positive", "negative", "neutral"]}, ["positive", "neutral"]),
    ({"const": {"a": [1, 2, {"b": None}], "c": "é"}}, [{"a": [1, 2, {"b": None}], "c": "é"}]),
    ({"type": "object", "properties": {"n": {"enum": [1, 12, 123, -5, 1.5, "12", None]}}, "required": ["n"]},
     [{"n": 1}, {"n": 12}, {"n": 123}, {"n": -5}, {"n": "12"}, {"n": None}]),
    ({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False, "minItems": 2},
     [["a", 1]]),
    ({"type": "object", "properties": {"s": {"type": "string", "minLength": 2, "maxLength": 4}}, "required": ["s"]},
     [{"s": "ab"}, {"s": "😀😀😀😀"}, {"s": "\\\"\n\u0001"}]),
    ({"type": "object", "properties": {"v": {"type": ["string", "integer", "null"]}}, "required": ["v"]},
     [{"v": "x"}, {"v": 7}, {"v": None}]),
    ({"type": "object", "properties": {"a\"b": {"type": "boolean"}, "é/ü": {"type": "null"}, "a": {"type": "number"}},
      "required": ["a\"b"]}, [{"a\"b": True}, {"a\"b": False, "é/ü": None, "a": 0.5}]),
    ({"type": "array"}, [[], [1, "a", [[]], {"k": [None]}]]),
    ({"$schema": "http://json-schema.org/draft-07/schema#", "type": "array", "items": [{"type": "boolean"}],
      "additionalItems": {"type": "string"}}, [[], [True], [False, "a", "b"]]),
    ({"$defs": {"n": {"type": "object", "properties": {"v": {"type": "integer"},
                                                       "c": {"type": "array", "items": {"$ref": "#/$defs/n"}}},
                      "required": ["c"]}}, "$ref": "#/$defs/n"},
     [{"c": []}, {"v": 1, "c": [{"c": []}, {"v": 2, "c": [{"c": []}]}]}]),
    ({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a", "z"]}, [{"a": 1, "z": [1]}]),
    ({  # a tagged union (pydantic's discriminator), in a list, beside null
        "$defs": {
            "Cat": {"type": "object", "properties": {"kind": {"const": "cat"}, "lives": {"type": "integer"}},
                    "required": ["kind", "lives"], "additionalProperties": False},
            "Dog": {"type": "object", "properties": {"kind": {"enum": ["dog", "puppy"]}, "name": {"type": "string"}},
                    "required": ["kind"]},
            "Fish": {"type": "object", "properties": {"kind": {"const": "fish"}}, "required": ["kind"],
                     "additionalProperties": {"type": "boolean"}}},
        "type": "array",
        "items": {"anyOf": [{"$ref": "#/$defs/Cat"}, {"oneOf": [{"$ref": "#/$defs/Dog"}, {"$ref": "#/$defs/Fish"}]},
                            {"type": "null"}]},
    }, [[], [{"kind": "cat", "lives": 9}, None, {"kind": "puppy", "name": "Rex"}, {"kind": "fish", "wet": True}]]),
    ({"properties": {"a": {"minLength": 1}, "b": {"items": {"type": "integer"}, "maxItems": 2},
                     "c": {"maximum": 3, "nullable": True}},  # no types: read from the keywords
      "required": ["a"]}, [{"a": "x"}, {"a": "xy", "b": [], "c": None}, {"a": "é", "b": [1, 2], "c": -7}]),
    ({"type": "object", "properties": {"s": {"type": "string", "enum": ["a", "bbbb", "cc", "é😀"], "maxLength": 2},
                                       "n": {"enum": [1, 5, 50, 10.5, -3], "maximum": 10, "exclusiveMinimum": -3},
                                       "k": {"const": "xyz", "minLength": 4}},
      "required": ["s", "n"]}, [{"s": "a", "n": 5}, {"s": "é😀", "n": 1}]),
    ({"type": "object", "properties": {"a": {"type": "integer", "minimum": -5, "maximum": 37},
                                       "b": {"type": "integer", "exclusiveMinimum": 99.5},
                                       "c": {"type": "integer", "maximum": -3, "exclusiveMinimum": -1201}},
      "required": ["a", "b", "c"]}, [{"a": -5, "b": 100, "c": -3}, {"a": 37, "b": 9999, "c": -1200}]),
    ({"type": "object", "properties": {"x": {"type": "array", "items": {"type": "integer"}, "minItems": 2,
                                             "maxItems": 3}, "y": {"oneOf": [{"type": "boolean"}, {"type": "string"}]}},
      "required": ["x"]}, [{"x": [1, 2]}, {"x": [1, 2, 3], "y": "s"}, {"x": [0, -0], "y": True}]),
    ({"type": "object",  # patterns, alone and with lengths; untyped "code" is a string by its pattern
      "properties": {"zip": {"type": "string", "pattern": "^\\d{5}(-\\d{4})?$"},
                     "code": {"pattern": "^[A-Z]{2,3}$", "maxLength": 2},
                     "email": {"type": "string", "pattern": "^[a-z0-9._-]+@[a-z]+\\.[a-z]{2,}$", "maxLength": 12},
                     "tag": {"type": "string", "pattern": "x", "minLength": 3},
                     "q": {"type": "string", "pattern": "^[^\"\\\\]*\"[\\\\/]$"},
                     "any": {"type": "string", "pattern": "é|😀", "maxLength": 4}},
      "required": ["zip", "code", "email", "tag"]},
     [{"zip": "12345", "code": "AB", "email": "a@b.cd", "tag": "axb"},
      {"zip": "12345-6789", "code": "XY", "email": "x.y@ab.org", "tag": "xxx", "q": "ab\"\\", "any": "a😀é"},
      {"zip": "00000", "code": "QQ", "email": "-@zz.zz", "tag": "\n\"x", "q": "\"/", "any": "é"}]),
    ({"type": "array", "items": {"enum": ["abc", "abd", "zzz", "x", "ab\n"], "pattern": "^ab"}}, [["abc", "ab\n"], []]),
    ({"type": "array", "items": {"type": "string", "pattern": "^\\n?\\t\"$"}}, [["\n\t\"", "\t\""]]),
    ({"type": "object", "properties": {"s": {"type": "string", "pattern": "^[ab]*$", "minLength": 2, "maxLength": 5}},
      "required": ["s"]}, [{"s": "ab"}, {"s": "babab"}]),
    ({"type": "object",  # a number's bounds, held digit by digit (no exponent then)
      "properties": {"p": {"type": "number", "minimum": 0, "maximum": 1},
                     "t": {"type": "number", "exclusiveMinimum": -0.5, "exclusiveMaximum": 2.25},
                     "big": {"type": "number", "minimum": 1e3}, "neg": {"type": "number", "maximum": -0.001},
                     "tiny": {"type": ["number", "null"], "minimum": 0.1, "maximum": 0.1000001},
                     "e": {"type": "number"}},
      "required": ["p", "t", "big", "neg"]},
     [{"p": 0.5, "t": -0.25, "big": 1000, "neg": -0.002}, {"p": 0, "t": 2.2499, "big": 1e3, "neg": -1, "tiny": 0.1},
      {"p": 1.0, "t": 0, "big": 12345.678, "neg": -0.001, "tiny": 0.10000005, "e": 1e-7}]),
    ({"type": "object",  # formats held like patterns (checked with a format checker below)
      "properties": {"d": {"type": "string", "format": "date"}, "t": {"type": "string", "format": "time"},
                     "dt": {"type": "string", "format": "date-time"}, "u": {"type": "string", "format": "uuid"},
                     "ip": {"type": "string", "format": "ipv4"}, "e": {"type": "string", "format": "email"}},
      "required": ["d", "t", "dt", "u", "ip", "e"]},
     [{"d": "2024-02-29", "t": "23:59:59Z", "dt": "0001-01-01T00:00:00.123456+05:30",
       "u": "123e4567-e89b-12d3-a456-426614174000", "ip": "255.0.10.1", "e": "a.b+c@ex-ample.co"},
      {"d": "2000-02-29", "t": "00:00:00-23:59", "dt": "1999-12-31T23:59:59Z",
       "u": "AAAAAAAA-bbbb-CCCC-dddd-000000000000", "ip": "0.0.0.0", "e": "z@y.io"}]),
]


# Formats asserted: jsonschema's own checkers where Debian's package has them (date, email, ipv4,
# uuid), Python's datetime for RFC 3339 times (jsonschema's need a package Debian lacks).
FORMATS = jsonschema.FormatChecker()
RFC3339_TIME = re.compile(r"\A\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)\Z")


@FORMATS.checks("time", raises=ValueError)
def _time(s):
    return not isinstance(s, str) or (RFC3339_TIME.match(s) is not None and datetime.time.fromisoformat(s) is not None)


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(s):
    if not isinstance(s, str):
        return True
    date, _, time = s.partition("T")
    return bool(time) and _time(time) and datetime.date.fromisoformat(date) is not None


def validator(schema):
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema, format_checker=FORMATS)


def is_valid(v, inst):
    return v.is_valid(inst)


def run_walker(args, stdin=None):
    r = subprocess.run([walker] + args, input=stdin, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise SystemExit("schema_walk %s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr))
    return r.stdout


def compact(inst):
    return json.dumps(inst, separators=(",", ":"), ensure_ascii=False)


def has_float(inst):
    if isinstance(inst, float):
        return True
    if isinstance(inst, dict):
        return any(has_float(v) for v in inst.values())
    if isinstance(inst, list):
        return any(has_float(v) for v in inst)
    return False


OTHER_VALUES = [None, True, 0, -7, 2.5, "", "zz", [], [1], {}, {"q": 1}]


def mutate(inst):
    """A few random edits of an instance (its copy)."""
    inst = copy.deepcopy(inst)
    nodes = []

    def collect(x):
        nodes.append(x)
        if isinstance(x, dict):
            for v in x.values():
                collect(v)
        elif isinstance(x, list):
            for v in x:
                collect(v)
    collect(inst)
    containers = [n for n in nodes if isinstance(n, (dict, list))]
    if not containers or rng.random() < 0.1:
        return rng.choice(OTHER_VALUES)
    c = rng.choice(containers)
    op = rng.randrange(5)
    if isinstance(c, dict):
        keys = list(c.keys())
        if op == 0 and keys:
            del c[rng.choice(keys)]
        elif op == 1:
            c[rng.choice(["zz", "name", "a", "n", "c"])] = rng.choice(OTHER_VALUES)
        elif op == 2 and keys:
            c[rng.choice(keys)] = rng.choice(OTHER_VALUES)
        elif op == 3 and keys:
            k = rng.choice(keys)
            c[k + "x"] = c.pop(k)
        elif keys:
            k = rng.choice(keys)
            if isinstance(c[k], str) and rng.random() < 0.5:
                c[k] = c[k] + "abcdefghij"[: rng.randint(1, 10)]
            elif isinstance(c[k], str):
                c[k] = c[k][: rng.randint(0, len(c[k]))]
    else:
        if op == 0 and c:
            c.pop()
        elif op == 1 and c:
            c.append(copy.deepcopy(c[0]))
        elif op == 2:
            c.append(rng.choice(OTHER_VALUES))
        elif c:
            c[rng.randrange(len(c))] = rng.choice(OTHER_VALUES)
    return inst


failures = []
totals = {"sampled": 0, "mutants": 0, "mutants_accepted": 0, "complete_checked": 0}
with tempfile.TemporaryDirectory() as tmp:
    for ci, (schema, valid) in enumerate(CASES):
        path = os.path.join(tmp, "schema%d.json" % ci)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(schema, f, ensure_ascii=False)
        v = validator(schema)
        texts = [json.loads(line) for line in run_walker(["sample", path, str(seed * 1000 + ci), "60"]).split("\n") if line]
        instances = []
        for t in texts:
            totals["sampled"] += 1
            try:
                inst = json.loads(t)
            except ValueError as e:
                failures.append("case %d: output is not JSON (%s): %r" % (ci, e, t))
                continue
            if not is_valid(v, inst):
                failures.append("case %d: output does not validate: %r" % (ci, t))
                continue
            instances.append(inst)
        for inst in valid:
            if not is_valid(v, inst):
                failures.append("case %d: listed instance is not valid by jsonschema: %r" % (ci, inst))
        # Completeness: listed instances and re-serialized outputs (floats may print differently).
        complete = valid + [i for i in instances if not has_float(i)]
        mutants = [mutate(rng.choice(instances)) for _ in range(200)] if instances else []
        candidates = [compact(i) for i in complete] + [compact(m) for m in mutants]
        verdicts = run_walker(["check", path], "".join(json.dumps(c) + "\n" for c in candidates)).split()
        for i, (text, verdict) in enumerate(zip(candidates, verdicts)):
            if i < len(complete):
                totals["complete_checked"] += 1
                if verdict != "1":
                    failures.append("case %d: a valid instance in generation's form was refused: %s" % (ci, text))
            else:
                totals["mutants"] += 1
                if verdict == "1":
                    totals["mutants_accepted"] += 1
                    if not is_valid(v, json.loads(text)):
                        failures.append("case %d: an invalid instance was accepted: %s" % (ci, text))

print("%d cases, %d sampled outputs, %d valid instances accepted, %d mutants (%d accepted, all valid)" %
      (len(CASES), totals["sampled"], totals["complete_checked"], totals["mutants"], totals["mutants_accepted"]))
for f in failures[:20]:
    print("FAIL", f)
sys.exit(1 if failures else 0)
