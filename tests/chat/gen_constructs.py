#!/usr/bin/env python3
"""Regenerates tests/chat/jinja_constructs.json: one case per Jinja construct the chat-template
interpreter supports, rendered by Python's jinja2 configured exactly as transformers configures it
(the fixtures' reference renderer, ../shared/fixtures/chat-templates/render.py, is imported and
used as is). The C++ test (tests/test_chat_constructs.cpp) renders the same templates and compares.

Usage: python3 tests/chat/gen_constructs.py [FIXTURES_DIR]
Needs python3-jinja2 (scripts/install-deps.sh installs it). Never edit the JSON by hand.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "fixtures")
sys.path.insert(0, os.path.join(FIXTURES, "chat-templates"))
import jinja2  # noqa: E402
import render  # noqa: E402  (the reference: compile_template with transformers' environment)

NOW = "2024-09-26T13:45:30"

# Variables every case sees (plus the case's own).
BASE = {
    "d": {"a": 1, "b": [1, 2], "c": {"x": "y"}, "items_key": "v"},
    "l": [3, 1, 2],
    "s": "hello",
    "u": "h\u00e9llo w\u00f6rld",
    "m": {"role": "user", "content": "hi"},
    "msgs": [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
    ],
    "people": [
        {"name": "Bob", "age": 30, "tags": ["x"]},
        {"name": "alice", "age": 25},
        {"name": "Carol", "age": 35, "tags": []},
    ],
    "n": None,
    "t": True,
    "f": 1.5,
    "i": 7,
    "empty": "",
    "ws": "\u00a0\u3000 padded \u2003\n",
}

CASES = [
    # ---- whitespace control: trim_blocks, lstrip_blocks, - and + markers, comments, raw
    ("ws_trim_blocks", "a\n{% if true %}\nb\n{% endif %}\nc"),
    ("ws_lstrip_blocks", "x\n    {% if true %}\n    y\n    {% endif %}\nz"),
    ("ws_lstrip_first_line", "  {% if true %}x{% endif %}  y"),
    ("ws_not_line_start", "a  {% if true %}b{% endif %}"),
    ("ws_minus_both", "a  {%- if true -%}  b  {%- endif -%}  c"),
    ("ws_minus_newlines", "a\n\n  {%- if true %}\n\n b\n{% endif -%}\n\n c"),
    ("ws_plus_lstrip", "  {%+ if true %}x{% endif %}"),
    ("ws_plus_trim", "{% if true +%}\nA{% endif %}"),
    ("ws_var_minus", "x  {{- 1 }}  {{ 2 -}}  y"),
    ("ws_var_no_lstrip", "x\n    {{ 1 }}\n"),
    ("ws_comment", "{# comment #}\nA  {#- c -#}  B\n  {# c #}\nX"),
    ("ws_comment_multiline", "a{# line1\nline2 #}b"),
    ("ws_raw", "{% raw %}{{ x }}{% if %}{% endraw %}"),
    ("ws_raw_minus", "a  {%- raw -%}  {{ y }}  {%- endraw -%}  !"),
    ("ws_trailing_newline", "abc\n"),
    ("ws_two_trailing_newlines", "abc\n\n"),
    ("ws_crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc"),
    ("ws_tab_lstrip", "\t{% if true %}x{% endif %}"),
    ("ws_unicode_lstrip", "\u00a0{% if true %}x{% endif %}"),
    ("ws_for_lines", "{% for x in l %}\n  - {{ x }}\n{% endfor %}\nend"),
    ("ws_minus_unicode", "a \u3000 {{- 'b' -}} \u00a0 c"),
    ("ws_var_end_newline", "{{ 'a' }}\n{{ 'b' }}\n"),
    ("ws_set_block_lines", "{% set x %}\n  line\n{% endset %}[{{ x }}]"),
    # ---- literals and printing (Python str())
    ("lit_strings", "{{ 'a\\nb' }}|{{ \"it's\" }}|{{ 'tab\\tx\\u00e9\\x41\\101\\q\\\\' }}|{{ 'a' 'b' \"c\" }}"),
    ("lit_raw_newline_in_string", "{{ 'line1\nline2' }}"),
    ("lit_numbers", "{{ 1 }} {{ 1.5 }} {{ 1e3 }} {{ 1_000 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 2.5e-3 }} {{ 1E2 }}"),
    ("lit_float_repr", "{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e100 }} {{ 1e-7 }} {{ 123456789012345678.0 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ -0.0 }} {{ 2/3 }}"),
    ("lit_bools_none", "{{ true }} {{ True }} {{ false }} {{ False }} {{ none }} {{ None }} {{ n }}"),
    ("lit_list_print", "{{ [1, 'a', none, true, 1.5, {'k': 'v'}, []] }}"),
    ("lit_dict_print", "{{ {'a': [1, 2], 'b': {'c': none}, 1: 'int key'} }}"),
    ("lit_repr_quotes", "{{ ['it\\'s', 'say \"hi\"', 'both \\' \"', 'nl\\n\\t\\r', 'back\\\\slash', '\\x01\\x7f'] }}"),
    ("lit_repr_unicode", "{{ ['\u00e9', '\u00a0', '\u200d', '\u3000', '\U0001F600', '\u2028', '\u4e2d'] }}"),
    ("lit_tuples", "{{ (1, 2) }} {{ (1,) }} {{ () }} {% set t = 1, 'a' %}{{ t }} {{ t|length }} {{ t[0] }} {{ (1, 2) + (3,) }} {{ [1, 2] == (1, 2) }} {{ (1, 2) == (1, 2) }} {{ d.items()|list }} {{ (1, 2)|tojson }}"),
    ("lit_trailing_commas", "{{ [1, 2,] }} {{ {'a': 1,} }}"),
    ("lit_json_input_print", "{{ d }} {{ people[0] }}"),
    # ---- operators
    ("op_arith", "{{ 1 + 2 }} {{ 7 - 10 }} {{ 3 * 4 }} {{ 10 / 4 }} {{ 10 // 4 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 1 + 1.5 }} {{ true + 1 }}"),
    ("op_strings", "{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ 2 * 'x' }} {{ 'a' ~ 1 ~ none ~ true ~ [1] }} {{ 'x' ~ undefined_var ~ 'y' }}"),
    ("op_lists", "{{ [1] + [2, 3] }} {{ [0] * 3 }}"),
    ("op_compare", "{{ 1 < 2 }} {{ 1 < 2 < 3 }} {{ 1 < 2 > 3 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 == 1.0 }} {{ 1 == true }} {{ 'a' != 'b' }} {{ none == none }} {{ 2 >= 2 }} {{ 3 <= 2 }}"),
    ("op_in", "{{ 'ab' in 'xabc' }} {{ 2 in l }} {{ 'a' in d }} {{ 'z' not in d }} {{ 5 not in l }} {{ 'x' in undefined_var }}"),
    ("op_and_or_values", "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ none or [] }} {{ '' and 1 }} {{ not 0 }} {{ not 'a' }} {{ x or 'dflt' }}"),
    ("op_precedence", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ -2 ** 2 }} {{ not 1 == 2 }} {{ 2 * 3 ~ 4 }} {{ 1 ~ 2 * 3 }} {{ (1 + 2) ~ 3 }} {{ not true and false }} {{ true or false and false }}"),
    ("op_filter_binds_tighter", "{{ -1|abs }} {{ 'a' ~ 'b'|upper }} {{ l|length + 1 }} {{ not l|length }}"),
    ("op_cond_expr", "{{ 'y' if t else 'n' }} {{ 'y' if n else 'n' }} [{{ 'y' if n }}] {{ 1 if false else 2 if true else 3 }}"),
    ("op_unary", "{{ -i }} {{ +i }} {{ -f }} {{ - -3 }}"),
    ("op_mod_format", "{{ '%s-%d' % ('a', 3) }} {{ '%s' % 'x' }} {{ '100%%' % () }}"),
    # ---- attribute / subscript / slices
    ("access_attr_item", "{{ m.role }} {{ m['role'] }} {{ d.c.x }} {{ d['c']['x'] }} {{ l[0] }} {{ l[-1] }} {{ l.0 }} {{ s[0] }} {{ u[1] }}"),
    ("access_missing", "[{{ d.missing }}|{{ d['missing'] }}|{{ l[10] }}|{{ n.x }}|{{ s.nope }}]"),
    ("access_method_vs_key", "{{ d.get('a') }} {{ d.get('z', 5) }} {{ d.get('z') }} {{ d['get'] is defined }} {{ d.items_key }}"),
    ("access_slices", "{{ s[1:3] }} {{ s[::-1] }} {{ l[::2] }} {{ l[-2:] }} {{ s[:-1] }} {{ l[5:0:-2] }} {{ u[1:4] }} {{ l[1:] }} {{ l[:] }} {{ s[-100:100] }} {{ msgs[1:]|length }}"),
    ("access_undefined_in_slice_bounds", "{{ l[x:] }}"),
    # ---- if / for / loop
    ("if_elif_else", "{% for v in [0, 1, 2, 3] %}{% if v == 0 %}zero{% elif v == 1 %}one{% elif v == 2 %}two{% else %}many{% endif %},{% endfor %}"),
    ("if_undefined_falsy", "{% if x %}yes{% else %}no{% endif %}{% if not x %}!{% endif %}"),
    ("for_loop_vars", "{% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}"),
    ("for_prev_next", "{% for x in l %}[{{ loop.previtem }}-{{ loop.nextitem }}]{% endfor %}{% for x in l %}{{ loop.previtem is defined }}{% endfor %}"),
    ("for_else", "{% for x in [] %}x{% else %}empty{% endfor %}{% for x in undefined_var %}x{% else %}undef{% endfor %}{% for x in l %}{{ x }}{% else %}no{% endfor %}"),
    ("for_filter", "{% for x in range(10) if x % 3 == 0 %}{{ x }}:{{ loop.index }}/{{ loop.length }} {% endfor %}"),
    ("for_unpack", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}{% for k, v in d|items %}{{ k }}{% endfor %}"),
    ("for_dict_keys", "{% for k in d %}{{ k }},{% endfor %}"),
    ("for_string", "{% for c in u %}{{ c }}.{% endfor %}"),
    ("for_break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
    ("for_nested_outer_loop", "{% for a in [1, 2] %}{% set outer = loop %}{% for b in [1, 2] %}{{ outer.index }}{{ loop.index }} {% endfor %}{% endfor %}"),
    ("for_cycle", "{% for x in range(5) %}{{ loop.cycle('a', 'b') }}{% endfor %}"),
    ("for_scoping", "{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }}"),
    ("for_scoping_first_only", "{% for i in [1, 2] %}{% if loop.first %}{% set y = 5 %}{% endif %}[{{ y }}]{% endfor %}[{{ y }}]"),
    ("for_namespace_counter", "{% set ns = namespace(count=0, found=false) %}{% for m in msgs %}{% if m.role == 'user' %}{% set ns.count = ns.count + 1 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }}"),
    ("for_reverse_messages", "{% for m in msgs[::-1] %}{{ m.role[0] }}{% endfor %}"),
    # ---- set
    ("set_basic", "{% set a = 1 %}{% set b, c = 2, 'x' %}{{ a }}{{ b }}{{ c }}{% set t = 1, 2 %}{{ t|length }}"),
    ("set_block", "{% set x %}hello {{ 1 + 1 }}{% endset %}[{{ x }}]"),
    ("set_block_filter", "{% set x | upper | trim %}  abc  {% endset %}[{{ x }}]"),
    ("set_namespace_init", "{% set ns = namespace(d) %}{{ ns.a }} {% set ns2 = namespace(a=1, b='x') %}{% set ns2.a = ns2.a + 1 %}{{ ns2.a }}{{ ns2.b }}"),
    ("set_in_if_leaks", "{% if true %}{% set z = 3 %}{% endif %}{{ z }}"),
    # ---- macros and call blocks
    ("macro_defaults_kwargs", "{% macro greet(name, greeting='Hello', punct='!') %}{{ greeting }}, {{ name }}{{ punct }}{% endmacro %}{{ greet('Bob') }} {{ greet('Al', punct='?') }} {{ greet(greeting='Hi', name='C') }}"),
    ("macro_recursive", "{% macro fact(k) %}{% if k <= 1 %}1{% else %}{{ k * fact(k - 1)|int }}{% endif %}{% endmacro %}{{ fact(5) }}"),
    ("macro_recursive_json", "{% macro show(v) %}{% if v is mapping %}{{ '{' }}{% for k, x in v.items() %}{{ k }}:{{ show(x) }}{% if not loop.last %},{% endif %}{% endfor %}{{ '}' }}{% elif v is string %}'{{ v }}'{% elif v is iterable %}[{% for x in v %}{{ show(x) }}{% endfor %}]{% else %}{{ v }}{% endif %}{% endmacro %}{{ show(d) }}"),
    ("macro_varargs_kwargs", "{% macro m(a) %}{{ a }}|{{ varargs }}|{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, k='v') }}"),
    ("macro_missing_arg", "{% macro m(a, b) %}[{{ a }}][{{ b }}][{{ b is defined }}]{% endmacro %}{{ m(1) }}"),
    ("macro_sees_globals_at_call", "{% macro m() %}{{ y }}{% endmacro %}{% set y = 1 %}{{ m() }}{% set y = 2 %}{{ m() }}"),
    ("macro_whitespace", "{% macro m(x) %}\n  <{{ x }}>\n{% endmacro %}\n{{ m(1) }}{{ m(2) }}"),
    ("macro_caller", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}inner {{ s }}{% endcall %}"),
    ("macro_caller_args", "{% macro each(items) %}{% for x in items %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(v) each(l) %}[{{ v }}]{% endcall %}"),
    ("macro_returns_string", "{% macro m() %}5{% endmacro %}{{ m() ~ '!' }} {{ m() is string }} {{ m()|int + 1 }}"),
    # ---- filter blocks, generation, with
    ("filter_block", "{% filter upper %}abc{{ 'd' }}{% endfilter %}{% filter trim|replace('a', 'b') %}  aXa  {% endfilter %}"),
    ("generation_block", "A{% generation %}gen {{ s }}{% endgeneration %}B"),
    ("with_block", "{% with a = 1, b = s %}{{ a }}{{ b }}{% endwith %}[{{ a }}]"),
    # ---- tests
    ("tests_types", "{% for v in [none, true, 1, 1.5, 'x', [1], {'a': 1}] %}{{ v is none }}{{ v is boolean }}{{ v is integer }}{{ v is float }}{{ v is number }}{{ v is string }}{{ v is mapping }}{{ v is iterable }}{{ v is sequence }}{{ v is true }}{{ v is false }}|{% endfor %}"),
    ("tests_undefined", "{{ x is defined }}{{ x is undefined }}{{ x is iterable }}{{ x is none }}{{ x is string }}{{ d.zz is defined }}{{ s is defined }}"),
    ("tests_compare", "{{ 1 is eq 1 }}{{ 1 is equalto 2 }}{{ 1 is ne 2 }}{{ 1 is lt 2 }}{{ 1 is gt 2 }}{{ 2 is le 2 }}{{ 2 is ge 3 }}{{ 3 is greaterthan 2 }}{{ 3 is lessthan 2 }}{{ 'a' is in 'abc' }}{{ 3 is in l }}"),
    ("tests_numbers", "{{ 4 is even }}{{ 3 is odd }}{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(2) }}"),
    ("tests_strings", "{{ 'abc' is lower }}{{ 'ABC' is upper }}{{ 'aBc' is lower }}"),
    ("tests_not", "{{ x is not defined }}{{ n is not none }}{{ s is not string }}{{ not s is string }}"),
    ("tests_callable_sameas", "{{ range is callable }}{{ s is callable }}{{ n is sameas none }}{{ 1 is sameas 1 }}{{ 'upper' is filter }}{{ 'nosuch' is filter }}{{ 'defined' is test }}"),
    # ---- filters
    ("filter_tojson", "{{ d|tojson }}|{{ people|tojson }}|{{ 'quote\" back\\\\ nl\\n tab\\t ctl\\x01 \u00e9 \U0001F600 <&>\\'' |tojson }}|{{ [1.0, 0.5, 1e20, true, none] | tojson }}"),
    ("filter_tojson_args", "{{ d|tojson(indent=2) }}|{{ d|tojson(ensure_ascii=true) }}|{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }}|{{ d|tojson(separators=(',', ':')) }}|{{ {'e': [], 'f': {}}|tojson(indent=4) }}|{{ '\u00e9'|tojson(true) }}"),
    ("filter_tojson_indent_string", "{{ {'a': [1, {'b': 2}]}|tojson(indent='\\t') }}|{{ [1]|tojson(indent=0) }}"),
    ("filter_trim", "[{{ ws|trim }}] [{{ '  x  '|trim }}] [{{ 'xxaxx'|trim('x') }}] [{{ undefined_var|trim }}] [{{ [1]|trim }}]"),
    ("filter_length", "{{ u|length }} {{ l|length }} {{ d|length }} {{ ''|length }} {{ undefined_var|length }} {{ l|count }}"),
    ("filter_items", "{% for k, v in d|items %}{{ k }}:{{ v }} {% endfor %}[{% for k in undefined_var|items %}{{ k }}{% endfor %}]"),
    ("filter_join", "{{ l|join }} {{ l|join(', ') }} {{ people|join('/', attribute='name') }} {{ undefined_var|join(',') }} {{ ['a', none, 1]|join('-') }}"),
    ("filter_map", "{{ people|map(attribute='name')|join(',') }} {{ ['a', 'B']|map('upper')|list }} {{ people|map(attribute='tags', default='none')|list }} {{ ['1', '2']|map('int')|sum }}"),
    ("filter_select_reject", "{{ range(10)|select('odd')|list }} {{ range(10)|reject('odd')|list }} {{ [0, 1, '', 'a', none]|select|list }} {{ l|select('gt', 1)|list }} {{ l|reject('equalto', 1)|list }} {{ [1, 'a', 2]|select('string')|list }}"),
    ("filter_selectattr", "{{ people|selectattr('tags')|map(attribute='name')|list }} {{ people|selectattr('tags', 'defined')|map(attribute='name')|list }} {{ people|rejectattr('tags', 'defined')|map(attribute='name')|list }} {{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }} {{ people|selectattr('age', 'gt', 28)|list|length }}"),
    ("filter_string", "{{ l|string }} {{ d|string }} {{ n|string }} {{ t|string }} {{ f|string }} {{ (l|string)[0] }} {{ 'x'|string }}"),
    ("filter_int_float", "{{ '42'|int }} {{ ' 7 '|int }} {{ '3.9'|int }} {{ 'abc'|int }} {{ 'abc'|int(5) }} {{ '0x1f'|int(0, 16) }} {{ 'ff'|int(base=16) }} {{ 3.99|int }} {{ none|int }} {{ '2.5'|float }} {{ 'x'|float }} {{ 3|float }} {{ true|int }} {{ '1_000'|int }}"),
    ("filter_case", "{{ 'hello WORLD'|lower }} {{ 'hello'|upper }} {{ 'hello world-foo(bar) [x]y'|title }} {{ 'hELLO wORLD'|capitalize }} {{ u|upper }} {{ 'ÉCOLE'|lower }}"),
    ("filter_default", "[{{ x|default('dflt') }}] [{{ n|default('dflt') }}] [{{ n|default('dflt', true) }}] [{{ empty|d('e', boolean=true) }}] [{{ s|default('z') }}] [{{ x|default }}]"),
    ("filter_safe_escape", "{{ '<b>'|safe }} {{ '<a href=\"x\">&\\'</a>'|escape }} {{ '<i>'|e }}"),
    ("filter_list_unique", "{{ 'abc'|list }} {{ d|list }} {{ ['a', 'A', 'b', 'a']|unique|list }} {{ ['a', 'A']|unique(case_sensitive=true)|list }} {{ people|unique(attribute='age')|list|length }} {{ [3, 1, 3, 2, 1]|unique|list }}"),
    ("filter_first_last", "{{ l|first }} {{ l|last }} {{ 'abc'|first }} {{ 'abc'|last }} [{{ []|first }}] {{ msgs|first|tojson }}"),
    ("filter_indent", "[{{ 'a\\nb\\n\\nc'|indent }}] [{{ 'a\\nb'|indent(2, true) }}] [{{ 'a\\n\\nb'|indent(2, blank=true) }}] [{{ 'x'|indent(first=true) }}] [{{ 'a\\nb'|indent('--') }}] [{{ 'a\\r\\nb\\n'|indent(1) }}]"),
    ("filter_replace", "{{ 'aaa'|replace('a', 'b') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'|replace('', '-') }} {{ 1212|replace(1, 3) }}"),
    ("filter_reverse_sort", "{{ l|reverse|list }} {{ 'abc'|reverse }} {{ l|sort }} {{ l|sort(reverse=true) }} {{ ['b', 'A', 'c']|sort }} {{ ['b', 'A', 'c']|sort(case_sensitive=true) }} {{ people|sort(attribute='age')|map(attribute='name')|list }} {{ people|sort(attribute='name')|map(attribute='name')|list }}"),
    ("filter_dictsort", "{{ {'b': 1, 'A': 2, 'c': 0}|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value') }} {{ {'b': 1, 'a': 2}|dictsort(reverse=true) }}"),
    ("filter_numbers", "{{ l|sum }} {{ people|sum(attribute='age') }} {{ l|min }} {{ l|max }} {{ people|max(attribute='age')|tojson }} {{ ['b', 'A']|min }} {{ -3|abs }} {{ -2.5|abs }} {{ 2.567|round(2) }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.1|round(method='ceil') }} {{ 2.9|round(0, 'floor') }} {{ 5|round }}"),
    ("filter_misc", "{{ 'one two  three'|wordcount }} [{{ 'ab'|center(6) }}] [{{ 'ab'|center(7) }}] {{ '%s=%s'|format('a', 1) }} {{ d|attr('c') }} {{ 'héllo'|pprint }}"),
    # ---- str / dict / list methods
    ("str_strip", "[{{ ws.strip() }}] [{{ '  a  '.lstrip() }}] [{{ '  a  '.rstrip() }}] [{{ 'xxaxx'.strip('x') }}] [{{ 'abcba'.lstrip('ab') }}] [{{ 'abcba'.rstrip('ab') }}]"),
    ("str_split", "{{ ' a  b c '.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ 'a b c'.split(none, 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ 'x'.split('x') }} {{ ''.split() }} {{ 'a\\nb\\r\\nc'.splitlines() }}"),
    ("str_prefix_suffix", "{{ s.startswith('he') }} {{ s.startswith(('x', 'h')) }} {{ s.endswith('lo') }} {{ s.endswith('x') }} {{ ''.startswith('') }}"),
    ("str_case", "{{ s.upper() }} {{ 'ABC'.lower() }} {{ 'hello wORLD 3rd x-y'.title() }} {{ 'hELLO'.capitalize() }}"),
    ("str_misc", "{{ 'aaa'.replace('a', 'b', 2) }} {{ s.find('l') }} {{ s.find('z') }} {{ s.rfind('l') }} {{ s.count('l') }} {{ '-'.join(['a', 'b']) }} {{ '123'.isdigit() }} {{ 'ab'.isalpha() }} {{ ' '.isspace() }} {{ '{} and {}'.format('a', 1) }} {{ '{0}{name}'.format('x', name='y') }}"),
    ("dict_methods", "{{ d.keys()|list }} {{ d.values()|list|length }} {% for k, v in m.items() %}{{ k }}={{ v }} {% endfor %}{{ d.get('b')|length }}"),
    ("list_methods", "{{ l.index(1) }} {{ l.count(3) }}"),
    # ---- globals
    ("global_range", "{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }} {{ range(0)|list }} {{ range(2, 1)|list }}"),
    ("global_dict_namespace", "{{ dict(a=1, b='x') }} {% set ns = namespace(items=[]) %}{{ ns.items }}"),
    ("global_strftime_now", "{{ strftime_now('%Y-%m-%d %H:%M:%S') }} {{ strftime_now('%d %b %Y') }} {{ strftime_now('%A %B %j %p %I %y') }}"),
    ("global_joiner", "{% set j = joiner(', ') %}{% for x in l %}{{ j() }}{{ x }}{% endfor %}"),
    # ---- realistic snippets
    ("chatml", "{% for message in msgs %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"),
    ("system_split", "{% if msgs[0]['role'] == 'system' %}{% set sys = msgs[0]['content'] %}{% set rest = msgs[1:] %}{% else %}{% set sys = 'default' %}{% set rest = msgs %}{% endif %}[{{ sys }}]{% for m in rest %}{{ m.role }}:{{ m.content }};{% endfor %}"),
    # ---- errors raised while rendering (message and type must match exactly)
    ("err_raise_exception", "{{ raise_exception('Bad role: ' + m.role) }}"),
    ("err_undefined_attr_of_undefined", "{{ x.y }}"),
    ("err_undefined_chain", "{{ d.zz.y }}"),
    ("err_undefined_list_element", "{{ l[10].x }}"),
    ("err_undefined_none_attr", "{{ n.x.y }}"),
    ("err_undefined_plus", "{{ x + 1 }}"),
    ("err_undefined_call", "{{ s.nosuchmethod() }}"),
    ("err_list_method_call", "{{ l.upper() }}"),
    ("err_str_plus_int", "{{ 'a' + 1 }}"),
    ("err_int_plus_str", "{{ 1 + 'a' }}"),
    ("err_list_plus_str", "{{ [1] + 'a' }}"),
    ("err_none_plus_str", "{{ n + 'a' }}"),
    ("err_str_plus_none", "{{ 'a' + n }}"),
    ("err_str_plus_dict", "{{ 'a' + d }}"),
    ("err_str_minus", "{{ 'a' - 1 }}"),
    ("err_compare_types", "{{ 1 < 'a' }}"),
    ("err_in_string_int", "{{ 1 in 'abc' }}"),
    ("err_in_none", "{{ 'a' in n }}"),
    ("err_in_int", "{{ 'a' in 5 }}"),
    ("err_div_zero", "{{ 1 / 0 }}"),
    ("err_floordiv_zero", "{{ 1 // 0 }}"),
    ("err_mod_zero", "{{ 1 % 0 }}"),
    ("err_iterate_int", "{% for x in 5 %}{% endfor %}"),
    ("err_iterate_none", "{% for x in n %}{% endfor %}"),
    ("err_not_callable", "{{ s() }}"),
    ("err_unary_minus_str", "{{ -s }}"),
    ("err_unpack_too_many", "{% for a, b in [[1, 2, 3]] %}{% endfor %}"),
    ("err_unpack_too_few", "{% set a, b = [1] %}"),
    ("err_items_not_mapping", "{% for a in l|items %}{% endfor %}"),
    ("err_tojson_undefined", "{{ x|tojson }}"),
    ("err_length_int", "{{ 5|length }}"),
    ("err_security_append", "{{ l.append(4) }}"),
    ("err_security_pop", "{{ d.pop('a') }}"),
    ("err_range_too_big", "{{ range(1000000)|length }}"),
    ("err_namespace_assign", "{% set s.x = 1 %}"),
    ("err_str_repeat_str", "{{ 'a' * 'b' }}"),
    ("err_join_str_method_non_str", "{{ ','.join([1, 2]) }}"),
    ("err_macro_in_loop_error_line", "line1\n{% for m in msgs %}\n{% if m.role == 'assistant' %}\n{{ raise_exception('no assistant') }}\n{% endif %}\n{% endfor %}"),
    # ---- syntax errors (type and line must match; our message adds the column)
    ("syn_unclosed_if", "{% if x %}abc"),
    ("syn_unclosed_for", "a\n{% for x in l %}\nb"),
    ("syn_missing_operand", "{{ 1 + }}"),
    ("syn_stray_endfor", "x\n{% endfor %}"),
    ("syn_unknown_tag", "{% foo %}"),
    ("syn_unknown_filter", "a\nb\n{{ x|nosuchfilter }}"),
    ("syn_unknown_test", "{{ x is nosuchtest }}"),
    ("syn_unclosed_string", "{{ 'abc }}"),
    ("syn_for_no_iterable", "{% for x in %}{% endfor %}"),
    ("syn_unbalanced_paren", "{{ (1 }}"),
    ("syn_bad_close", "line1\nline2 {{ ) }}"),
    ("syn_break_outside_loop", "{% break %}"),
    ("syn_unclosed_comment", "a {# b"),
    ("syn_unclosed_var", "{{ x "),
    ("syn_bad_char", "{{ x @ y }}"),
    ("syn_else_twice", "{% if x %}{% else %}{% else %}{% endif %}"),
    ("syn_set_no_value", "{% set %}"),
    ("syn_macro_no_parens", "{% macro m %}{% endmacro %}"),
]


def render_one(template, variables):
    try:
        compiled = render.compile_template(template, NOW)
        return {"expected": compiled.render(**variables)}
    except render.RaisedByTemplate as e:
        return {"error": str(e.message), "error_type": "TemplateError"}
    except jinja2.exceptions.TemplateSyntaxError as e:
        return {"error": e.message, "error_type": type(e).__name__, "error_line": e.lineno}
    except Exception as e:
        msg = e.message if isinstance(e, jinja2.exceptions.TemplateError) and e.message is not None else str(e)
        return {"error": msg, "error_type": type(e).__name__}


def main():
    out = []
    names = set()
    for name, template in CASES:
        assert name not in names, name
        names.add(name)
        case = {"name": name, "template": template}
        case.update(render_one(template, dict(BASE)))
        out.append(case)
    doc = {
        "generator": "tests/chat/gen_constructs.py",
        "jinja2_version": jinja2.__version__,
        "now": NOW,
        "variables": BASE,
        "cases": out,
    }
    path = os.path.join(HERE, "jinja_constructs.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    n_err = sum("error" in c for c in out)
    print(f"{path}: {len(out)} cases ({n_err} errors), jinja2 {jinja2.__version__}")


if __name__ == "__main__":
    main()
