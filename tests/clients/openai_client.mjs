// The official `openai` npm client against `stablelm serve`: completions, chat, streaming and
// error mapping. Usage: node openai_client.mjs BASE_URL (chat tests run when CHAT_BASE_URL is set).
import assert from "node:assert/strict";
import OpenAI from "openai";

const base = process.argv[2];
const chatBase = process.argv[3];
const client = new OpenAI({ baseURL: base + "/v1", apiKey: "none", maxRetries: 0 });

const models = await client.models.list();
assert.equal(models.data[0].object, "model");
const model = models.data[0].id;

// Completions: greedy, logprobs, echo.
const c = await client.completions.create({ model, prompt: "Hello world", max_tokens: 8, temperature: 0, logprobs: 2 });
assert.equal(c.object, "text_completion");
assert.equal(c.choices.length, 1);
assert.ok(["stop", "length"].includes(c.choices[0].finish_reason));
assert.equal(c.choices[0].logprobs.tokens.length, c.usage.completion_tokens);
for (let i = 0; i < c.choices[0].logprobs.tokens.length; ++i) {
  const top = c.choices[0].logprobs.top_logprobs[i];
  assert.equal(c.choices[0].logprobs.token_logprobs[i], Math.max(...Object.values(top)));  // greedy
}

// Streaming completions add up to the non-streamed text.
const stream = await client.completions.create({ model, prompt: "Hello world", max_tokens: 8, temperature: 0, stream: true,
                                                 stream_options: { include_usage: true } });
let text = "";
let usage = null;
for await (const chunk of stream) {
  if (chunk.choices.length) text += chunk.choices[0].text;
  if (chunk.usage) usage = chunk.usage;
}
assert.equal(text, c.choices[0].text);
assert.deepEqual(usage, c.usage);

// n choices.
const n3 = await client.completions.create({ model, prompt: "Once", max_tokens: 4, n: 3, seed: 5 });
assert.deepEqual(n3.choices.map((x) => x.index), [0, 1, 2]);

// Errors map to the client's classes.
await assert.rejects(client.completions.create({ model, prompt: "x", n: 1000 }), (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === "n");
await assert.rejects(client.completions.create({ model, prompt: [1, 2, 3], max_tokens: 100000 }),
                     (e) => e instanceof OpenAI.BadRequestError && /maximum context length/.test(e.message));
const bad = new OpenAI({ baseURL: base + "/v2", apiKey: "none", maxRetries: 0 });
await assert.rejects(bad.models.list(), (e) => e instanceof OpenAI.NotFoundError);

if (chatBase) {
  const chat = new OpenAI({ baseURL: chatBase + "/v1", apiKey: "none", maxRetries: 0 });
  const messages = [{ role: "user", content: "Hello!" }];
  const r = await chat.chat.completions.create({ model, messages, max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 2 });
  assert.equal(r.object, "chat.completion");
  assert.equal(r.choices[0].message.role, "assistant");
  for (const e of r.choices[0].logprobs.content) assert.equal(e.logprob, e.top_logprobs[0].logprob);
  const s = await chat.chat.completions.create({ model, messages, max_tokens: 8, temperature: 0, stream: true });
  let t = "";
  let first = true;
  let finish = null;
  for await (const chunk of s) {
    if (first) assert.equal(chunk.choices[0].delta.role, "assistant");
    first = false;
    t += chunk.choices[0]?.delta?.content ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(t, r.choices[0].message.content);
  assert.equal(finish, r.choices[0].finish_reason);

  // Tools, as the client sends them: a first turn, then the turn that carries the call's result.
  const tools = [{ type: "function", function: { name: "get_current_weather", description: "Weather of a city",
                                                 parameters: { type: "object", properties: { city: { type: "string" } },
                                                               required: ["city"] } } }];
  const ask = [{ role: "user", content: "Weather in Tokyo?" }];
  const tr = await chat.chat.completions.create({ model, messages: ask, tools, max_tokens: 8, temperature: 0 });
  const m = tr.choices[0].message;
  if (tr.choices[0].finish_reason === "tool_calls") {
    assert.equal(m.content, null);
    for (const call of m.tool_calls) JSON.parse(call.function.arguments);
  } else {
    assert.equal(typeof m.content, "string");
  }
  const ts = await chat.chat.completions.create({ model, messages: ask, tools, max_tokens: 8, temperature: 0, stream: true });
  let tt = "";
  for await (const chunk of ts) tt += chunk.choices[0]?.delta?.content ?? "";
  if (m.content !== null) assert.equal(tt, m.content);
  const followUp = [...ask,
                    { role: "assistant", content: null,
                      tool_calls: [{ id: "call_1", type: "function",
                                     function: { name: "get_current_weather", arguments: JSON.stringify({ city: "Tokyo" }) } }] },
                    { role: "tool", tool_call_id: "call_1", content: "22 C, sunny" }];
  const fr = await chat.chat.completions.create({ model, messages: followUp, tools, max_tokens: 4, temperature: 0 });
  assert.equal(fr.object, "chat.completion");
  // Constrained answers (a named function, JSON mode): a random-weight model held to JSON writes
  // string text until its tokens run out; logit_bias on the closing tokens (", }, ]) makes it close some.
  const logit_bias = {};
  for (const ch of ['"', "}", "]"]) {
    const t = await (await fetch(chatBase + "/tokenize", { method: "POST", headers: { "Content-Type": "application/json" },
                                                          body: JSON.stringify({ prompt: ch, add_special_tokens: false }) })).json();
    logit_bias[String(t.tokens[0])] = 6;
  }
  // A named function: the answer is a call of it (when it ends within its tokens).
  for (let seed = 1; seed <= 6; ++seed) {
    const nr = await chat.chat.completions.create({ model, messages: ask, tools, max_tokens: 48, temperature: 1, seed, logit_bias,
                                                    tool_choice: { type: "function", function: { name: "get_current_weather" } } });
    if (nr.choices[0].finish_reason !== "tool_calls") continue;
    assert.equal(nr.choices[0].message.tool_calls[0].function.name, "get_current_weather");
    assert.equal(typeof JSON.parse(nr.choices[0].message.tool_calls[0].function.arguments), "object");
  }
  await assert.rejects(chat.chat.completions.create({ model, messages: ask, tools,
                                                      tool_choice: { type: "function", function: { name: "nope" } } }),
                       (e) => e instanceof OpenAI.BadRequestError && e.param === "tool_choice");

  // JSON mode: an object once it closes.
  let closed = 0;
  for (let seed = 1; seed <= 8; ++seed) {
    const jr = await chat.chat.completions.create({ model, messages: ask, max_tokens: 40, temperature: 1, seed, logit_bias,
                                                    response_format: { type: "json_object" } });
    const c = jr.choices[0];
    if (c.finish_reason === "stop") {
      assert.equal(typeof JSON.parse(c.message.content), "object");
      ++closed;
    } else {
      assert.equal(c.finish_reason, "length");
    }
  }
  assert.ok(closed > 0, "no seed closed its JSON object");
  // Structured outputs: response_format json_schema, as the client sends it.
  const schema = { type: "object", properties: { ok: { type: "boolean" }, n: { type: "integer" },
                                                code: { type: "string", pattern: "^[a-z]{2}-\\d$" } },
                   required: ["ok", "n", "code"], additionalProperties: false };
  let finished = 0;
  for (let seed = 1; seed <= 6; ++seed) {
    const sr = await chat.chat.completions.create({ model, messages: ask, max_tokens: 40, temperature: 0.7, seed,
                                                    logit_bias, response_format: { type: "json_schema",
                                                    json_schema: { name: "answer", schema, strict: true } } });
    const c = sr.choices[0];
    if (c.finish_reason === "stop") {
      const v = JSON.parse(c.message.content);
      assert.deepEqual(Object.keys(v), ["ok", "n", "code"]);
      assert.match(v.code, new RegExp(schema.properties.code.pattern, "u"));  // ECMAScript's own reading
      assert.equal(typeof v.ok, "boolean");
      assert.ok(Number.isInteger(v.n));
      ++finished;
    } else {
      assert.equal(c.finish_reason, "length");
    }
  }
  assert.ok(finished > 0, "no seed finished its JSON value");
  // vLLM's guided_choice, passed as an extra body field as vLLM's docs show: one of the choices.
  const colours = ["red", "green", "blue"];
  const gc = await chat.chat.completions.create({ model, messages: ask, max_tokens: 10, temperature: 1, seed: 2,
                                                  guided_choice: colours });
  assert.ok(colours.includes(gc.choices[0].message.content), gc.choices[0].message.content);
  assert.equal(gc.choices[0].finish_reason, "stop");
  await assert.rejects(chat.chat.completions.create({ model, messages: ask, response_format: { type: "json_schema",
                                                      json_schema: { name: "x", schema: { type: "string",
                                                                                          pattern: "(?=a)" } } } }),
                       (e) => e instanceof OpenAI.BadRequestError && e.param === "response_format" &&
                              e.message.includes("'pattern'"));
}

// A key-protected server: 401 maps to AuthenticationError (when a third URL is given).
if (process.argv[4]) {
  const locked = new OpenAI({ baseURL: process.argv[4] + "/v1", apiKey: "wrong", maxRetries: 0 });
  await assert.rejects(locked.models.list(), (e) => e instanceof OpenAI.AuthenticationError);
}
console.log("openai client: ok");
