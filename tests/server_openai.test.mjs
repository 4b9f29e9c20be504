// server_openai.test.mjs: `rocmforge serve` driven by the official `openai`
// npm client (fetched by scripts/fetch-reference.sh into $REF/openai) under
// node's test runner. Run by ctest as
//   node --test tests/server_openai.test.mjs   (ROCMFORGE_BUILD, ROCMFORGE_MODEL, ROCMFORGE_OPENAI set)
// The server runs the bundled model on the CPU, loopback, an ephemeral port.
// Greedy replies are compared with `rocmforge run --temp 0` on the same text.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { once } from "node:events";

const BUILD = process.env.ROCMFORGE_BUILD, MODEL = process.env.ROCMFORGE_MODEL;
const require = createRequire(process.env.ROCMFORGE_OPENAI + "/node_modules/");
const OpenAI = require("openai");
const BIN = BUILD + "/rocmforge";
let server, client;

before(async () => {
  server = spawn(BIN, ["serve", MODEL, "--port", "0", "--parallel", "4", "--backend", "cpu", "-t", "2",
                       "--api-key", "k-123"], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const port = await new Promise((resolve, reject) => {
    server.stderr.on("data", (d) => {
      log += d;
      const m = log.match(/127\.0\.0\.1:(\d+)/);
      if (m && log.includes("ready:")) resolve(Number(m[1]));
    });
    server.on("exit", (code) => reject(new Error("the server exited: " + code + "\n" + log)));
  });
  client = new OpenAI({ apiKey: "k-123", baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
});

after(async () => {
  server.kill("SIGTERM");
  const [code] = await once(server, "exit");
  assert.equal(code, 0, "SIGTERM ends the server cleanly");
});

function run(prompt, n) {
  const out = execFileSync(BIN, ["run", MODEL, "-p", prompt, "-n", String(n), "--temp", "0", "--backend", "cpu",
                                 "-t", "2"], { stdio: ["ignore", "pipe", "ignore"] }).toString();
  return out.endsWith("\n") ? out.slice(0, -1) : out;
}

test("completions: greedy text is rocmforge run's", async () => {
  const r = await client.completions.create({ model: "m", prompt: "And God said", max_tokens: 12, temperature: 0 });
  assert.equal(r.choices[0].text, run("And God said", 12));
  assert.equal(r.choices[0].finish_reason, "length");
  assert.equal(r.usage.completion_tokens, 12);
});

test("chat: streamed pieces are the reply, with usage", async () => {
  const messages = [{ role: "user", content: "Who made the heaven?" }];
  const whole = await client.chat.completions.create({ model: "m", messages, max_tokens: 16, temperature: 0 });
  const stream = await client.chat.completions.create({ model: "m", messages, max_tokens: 16, temperature: 0,
                                                        stream: true, stream_options: { include_usage: true } });
  let text = "", usage = null, finish = null;
  for await (const chunk of stream) {
    if (chunk.choices.length) {
      text += chunk.choices[0].delta.content ?? "";
      finish = chunk.choices[0].finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.equal(usage.completion_tokens, whole.usage.completion_tokens);
});

test("stop strings cut the text before them", async () => {
  const full = run("In the beginning God created", 16);
  const stop = full.slice(full.indexOf(",") - 2, full.indexOf(",") + 2);
  const r = await client.completions.create({ model: "m", prompt: "In the beginning God created", max_tokens: 16,
                                              temperature: 0, stop: [stop] });
  assert.equal(r.choices[0].text, full.slice(0, full.indexOf(stop)));
  assert.equal(r.choices[0].finish_reason, "stop");
});

test("logprobs: the greedy token is its best alternative", async () => {
  const r = await client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "Hi" }],
                                                   max_tokens: 4, temperature: 0, logprobs: true, top_logprobs: 2 });
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, r.usage.completion_tokens);
  assert.equal(content.map((e) => e.token).join(""), r.choices[0].message.content);
  for (const e of content) {
    assert.equal(e.top_logprobs[0].token, e.token);
    assert.ok(e.logprob <= 0 && e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob);
  }
});

test("json_schema: the reply parses and follows the schema", async () => {
  const schema = { type: "object", required: ["ok", "c"],
                   properties: { ok: { type: "boolean" }, c: { enum: ["red", "green"] } } };
  const r = await client.chat.completions.create({
    model: "m", messages: [{ role: "user", content: "JSON please" }], max_tokens: 300, seed: 1, temperature: 0.8,
    response_format: { type: "json_schema", json_schema: { name: "t", schema } } });
  assert.equal(r.choices[0].finish_reason, "stop");
  const v = JSON.parse(r.choices[0].message.content);
  assert.equal(typeof v.ok, "boolean");
  assert.ok(["red", "green"].includes(v.c));
  assert.deepEqual(Object.keys(v).sort(), ["c", "ok"]);
});

test("errors come back as the client's APIError, with status and param", async () => {
  await assert.rejects(client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "x" }], n: 2 }),
                       (e) => e.status === 400 && e.param === "n");
  const bad = new OpenAI({ apiKey: "wrong", baseURL: client.baseURL, maxRetries: 0 });
  await assert.rejects(bad.models.list(), (e) => e.status === 401);
  const models = await client.models.list();
  assert.equal(models.data[0].object, "model");
});
