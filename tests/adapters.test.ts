// Provider adapters (spec 07 §7, 08 §7): request mapping, response parsing and SSE stream events.
import { afterAll, describe, expect, test } from "bun:test";
import {
  buildProviderRequest,
  parseCompletion,
  SseParser,
  streamEvents,
  type AdapterTarget,
  type AttemptCredential,
  type ChatRequest,
  type StreamEvent,
} from "../lib/adapters.ts";
import { postStream } from "../lib/http.ts";
import type { ApiKind } from "../lib/providers.ts";
import { startFakeProvider } from "./fake-provider.ts";

const KEY = "sk-ant-api03-TESTFAKE-key-0123456789";
const OAT = "sk-ant-oat01-TESTFAKE-token-0123456789";
const hi: ChatRequest = { messages: [{ role: "user", content: "hi" }] };

const anthropic = (baseUrl = "https://api.anthropic.com"): AdapterTarget => ({ provider: "anthropic", api: "anthropic-messages", baseUrl, model: "claude-x" });
const compat = (provider: string, baseUrl = "https://api.example.com/v1"): AdapterTarget => ({ provider, api: "openai-completions", baseUrl, model: "m-1" });
const google = (model = "gemini-2.5-flash", baseUrl = "https://generativelanguage.googleapis.com/v1beta"): AdapterTarget => ({
  provider: "google",
  api: "google-generative-ai",
  baseUrl,
  model,
});
const key = (value: string): AttemptCredential => ({ type: "api_key", value });
const token = (value: string): AttemptCredential => ({ type: "token", value });
const body = (r: { body: string }) => JSON.parse(r.body);

describe("URLs", () => {
  const rows: Array<[name: string, target: AdapterTarget, req: ChatRequest, url: string]> = [
    ["anthropic default base", anthropic(), hi, "https://api.anthropic.com/v1/messages"],
    ["anthropic base ending in /v1", anthropic("http://127.0.0.1:9/v1"), hi, "http://127.0.0.1:9/v1/messages"],
    ["anthropic base ending in /v1/ (slash trimmed)", anthropic("http://127.0.0.1:9/v1/"), hi, "http://127.0.0.1:9/v1/messages"],
    ["anthropic proxy base with a path", anthropic("https://proxy.example/anthropic//"), hi, "https://proxy.example/anthropic/v1/messages"],
    ["openai-completions", compat("groq", "https://api.groq.com/openai/v1/"), hi, "https://api.groq.com/openai/v1/chat/completions"],
    ["google", google(), hi, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"],
    ["google drops a leading models/", google("models/gemini-2.5-pro"), hi, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent"],
    ["google streaming", google(), { ...hi, stream: true }, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"],
    ["responses for openai-codex", { provider: "openai-codex", api: "openai-responses", baseUrl: "https://chatgpt.com/backend-api/", model: "gpt-5.2" }, hi, "https://chatgpt.com/backend-api/codex/responses"],
    ["responses for another provider", { provider: "acme", api: "openai-responses", baseUrl: "http://127.0.0.1:9/v1", model: "r" }, hi, "http://127.0.0.1:9/v1/responses"],
  ];
  test.each(rows)("%s", (_n, target, req, url) => {
    expect(buildProviderRequest(target, key("k-0123456789"), req).url).toBe(url);
  });
});

describe("headers", () => {
  test("anthropic api_key: x-api-key, no authorization, no beta flag, nothing borrowed", () => {
    const r = buildProviderRequest(anthropic(), key(KEY), hi);
    expect(r.headers).toEqual({ "content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": KEY });
  });

  test("anthropic setup-token (sk-ant-oat): Bearer plus anthropic-beta oauth-2025-04-20, no x-api-key", () => {
    const r = buildProviderRequest(anthropic(), token(OAT), hi);
    expect(r.headers).toEqual({
      "content-type": "application/json",
      "anthropic-version": "2023-06-01",
      authorization: `Bearer ${OAT}`,
      "anthropic-beta": "oauth-2025-04-20",
    });
  });

  test("anthropic oauth access token with sk-ant-oat gets the beta flag; other tokens do not", () => {
    expect(buildProviderRequest(anthropic(), { type: "oauth", value: OAT }, hi).headers["anthropic-beta"]).toBe("oauth-2025-04-20");
    const plain = buildProviderRequest(anthropic(), token("plain-token-0123456789"), hi).headers;
    expect(plain.authorization).toBe("Bearer plain-token-0123456789");
    expect(plain["anthropic-beta"]).toBeUndefined();
    expect(plain["x-api-key"]).toBeUndefined();
  });

  test("layering: configured headers < adapter defaults < auth, case-insensitively (auth always wins)", () => {
    const t = { ...anthropic(), extraHeaders: { Authorization: "Bearer configured-wrong", "X-Api-Key": "configured-wrong", "Anthropic-Version": "2020-01-01", "x-team": "blue" } };
    const r = buildProviderRequest(t, token(OAT), hi);
    const lower = Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k.toLowerCase(), v]));
    expect(Object.keys(r.headers).length).toBe(Object.keys(lower).length);
    expect(lower.authorization).toBe(`Bearer ${OAT}`);
    expect(lower["anthropic-version"]).toBe("2023-06-01");
    expect(lower["x-team"]).toBe("blue");
    // A token is sent as Bearer with no x-api-key (07 §7.1): a configured one is dropped, so one credential goes out.
    expect(lower["x-api-key"]).toBeUndefined();
    const g = buildProviderRequest({ ...google(), extraHeaders: { authorization: "Bearer configured-wrong" } }, key("AIzaTESTFAKE0123456789abcdef"), hi);
    expect(g.headers).toEqual({ "content-type": "application/json", "x-goog-api-key": "AIzaTESTFAKE0123456789abcdef" });
    // custom-local sends no auth of its own, so a configured Authorization (e.g. for a local proxy) is kept.
    expect(buildProviderRequest({ ...compat("acme"), extraHeaders: { Authorization: "Bearer proxy" } }, { type: "local", value: "custom-local" }, hi).headers.Authorization).toBe("Bearer proxy");
    const k = buildProviderRequest({ ...compat("groq"), extraHeaders: { AUTHORIZATION: "Bearer configured-wrong", "Content-Type": "text/plain" } }, key("gsk-real-0123456789"), hi);
    expect(k.headers).toEqual({ "content-type": "application/json", authorization: "Bearer gsk-real-0123456789" });
  });

  test("openai-compatible: Bearer for every credential type; openrouter adds X-Title", () => {
    for (const cred of [key("k-0123456789"), token("k-0123456789"), { type: "oauth", value: "k-0123456789" } as AttemptCredential]) {
      expect(buildProviderRequest(compat("groq"), cred, hi).headers).toEqual({ "content-type": "application/json", authorization: "Bearer k-0123456789" });
    }
    expect(buildProviderRequest(compat("openrouter"), key("k-0123456789"), hi).headers).toEqual({
      "content-type": "application/json",
      "X-Title": "jarvis",
      authorization: "Bearer k-0123456789",
    });
  });

  test("custom-local sends no authorization; ollama-local does (harmless marker)", () => {
    expect(buildProviderRequest(compat("acme"), { type: "local", value: "custom-local" }, hi).headers).toEqual({ "content-type": "application/json" });
    expect(buildProviderRequest(compat("ollama"), { type: "local", value: "ollama-local" }, hi).headers.authorization).toBe("Bearer ollama-local");
  });

  test("openai-codex over openai-completions adds chatgpt-account-id when known", () => {
    const cred: AttemptCredential = { type: "oauth", value: "access-0123456789", accountId: "acct-1" };
    expect(buildProviderRequest(compat("openai-codex"), cred, hi).headers["chatgpt-account-id"]).toBe("acct-1");
    expect(buildProviderRequest(compat("groq"), cred, hi).headers["chatgpt-account-id"]).toBeUndefined();
  });

  test("google: x-goog-api-key for api_key, Bearer for token/oauth", () => {
    expect(buildProviderRequest(google(), key("AIzaTESTFAKE0123456789abcdef"), hi).headers).toEqual({
      "content-type": "application/json",
      "x-goog-api-key": "AIzaTESTFAKE0123456789abcdef",
    });
    expect(buildProviderRequest(google(), { type: "oauth", value: "ya29.TESTFAKE" }, hi).headers).toEqual({
      "content-type": "application/json",
      authorization: "Bearer ya29.TESTFAKE",
    });
  });

  test("responses: Bearer and chatgpt-account-id, no client-identifying extras", () => {
    const r = buildProviderRequest(
      { provider: "openai-codex", api: "openai-responses", baseUrl: "https://chatgpt.com/backend-api", model: "gpt-5.2" },
      { type: "oauth", value: "access-0123456789", accountId: "acct-9" },
      hi,
    );
    expect(r.headers).toEqual({ "content-type": "application/json", authorization: "Bearer access-0123456789", "chatgpt-account-id": "acct-9" });
  });
});

describe("anthropic-messages body", () => {
  test("system/developer joined by a blank line, same-role runs merged, images, options", () => {
    const req: ChatRequest = {
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "one" },
        { role: "developer", content: [{ type: "text", text: "Use English." }] },
        { role: "user", content: [{ type: "text", text: "two" }, { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } }] },
        { role: "assistant", content: "a1" },
        { role: "assistant", content: "a2" },
        { role: "user", content: [{ type: "image_url", image_url: { url: "https://example.com/cat.jpg" } }] },
      ],
      temperature: 0.2,
      topP: 0.9,
      stop: "END",
      user: "u-1",
      stream: true,
    };
    expect(body(buildProviderRequest(anthropic(), key(KEY), req))).toEqual({
      model: "claude-x",
      max_tokens: 4096,
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "one" },
            { type: "text", text: "two" },
            { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
          ],
        },
        { role: "assistant", content: [{ type: "text", text: "a1" }, { type: "text", text: "a2" }] },
        { role: "user", content: [{ type: "image", source: { type: "url", url: "https://example.com/cat.jpg" } }] },
      ],
      system: "Be brief.\n\nUse English.",
      temperature: 0.2,
      top_p: 0.9,
      stop_sequences: ["END"],
      metadata: { user_id: "u-1" },
      stream: true,
    });
  });

  test("max_tokens passes through; no system key without system messages; stop arrays kept", () => {
    const b = body(buildProviderRequest(anthropic(), key(KEY), { ...hi, maxTokens: 8, stop: ["a", "b"] }));
    expect(b).toEqual({ model: "claude-x", max_tokens: 8, messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }], stop_sequences: ["a", "b"] });
  });

  test("the first conversation message must be from the user (format error for the client)", () => {
    const bad: ChatRequest = { messages: [{ role: "system", content: "s" }, { role: "assistant", content: "a" }, { role: "user", content: "u" }] };
    expect(() => buildProviderRequest(anthropic(), key(KEY), bad)).toThrow(expect.objectContaining({ code: "format" }));
  });
});

describe("openai-completions body", () => {
  const req: ChatRequest = {
    messages: [
      { role: "system", content: "s" },
      { role: "user", content: "u" },
      { role: "user", content: [{ type: "image_url", image_url: { url: "https://example.com/x.png" } }] },
    ],
    maxTokens: 8,
    temperature: 0,
    topP: 1,
    stop: ["x"],
    user: "u-2",
  };

  test("messages unchanged; openai sends max_completion_tokens", () => {
    expect(body(buildProviderRequest(compat("openai"), key("k-0123456789"), req))).toEqual({
      model: "m-1",
      messages: req.messages,
      max_completion_tokens: 8,
      temperature: 0,
      top_p: 1,
      stop: ["x"],
      user: "u-2",
    });
  });

  test("other providers send max_tokens and never stream_options", () => {
    const b = body(buildProviderRequest(compat("groq"), key("k-0123456789"), { ...req, stream: true }));
    expect(b.max_tokens).toBe(8);
    expect(b.max_completion_tokens).toBeUndefined();
    expect(b.stream).toBe(true);
    expect(b.stream_options).toBeUndefined();
  });

  test("openai streaming adds stream_options.include_usage; non-streaming does not", () => {
    expect(body(buildProviderRequest(compat("openai"), key("k-0123456789"), { ...req, stream: true })).stream_options).toEqual({ include_usage: true });
    expect(body(buildProviderRequest(compat("openai"), key("k-0123456789"), req)).stream_options).toBeUndefined();
  });
});

describe("google-generative-ai body", () => {
  test("roles user/model, same-role runs merged, inline images, systemInstruction, generationConfig", () => {
    const req: ChatRequest = {
      messages: [
        { role: "system", content: "s1" },
        { role: "developer", content: "s2" },
        { role: "user", content: "u1" },
        { role: "user", content: [{ type: "image_url", image_url: { url: "data:image/jpeg;base64,/9j/4AAQ" } }] },
        { role: "assistant", content: "a1" },
        { role: "user", content: "u2" },
      ],
      maxTokens: 8,
      temperature: 0.5,
      topP: 0.8,
      stop: "STOP",
    };
    expect(body(buildProviderRequest(google(), key("AIzaTESTFAKE0123456789abcdef"), req))).toEqual({
      contents: [
        { role: "user", parts: [{ text: "u1" }, { inline_data: { mime_type: "image/jpeg", data: "/9j/4AAQ" } }] },
        { role: "model", parts: [{ text: "a1" }] },
        { role: "user", parts: [{ text: "u2" }] },
      ],
      systemInstruction: { parts: [{ text: "s1\n\ns2" }] },
      generationConfig: { maxOutputTokens: 8, temperature: 0.5, topP: 0.8, stopSequences: ["STOP"] },
    });
  });
});

describe("openai-responses body (08 §7)", () => {
  test("instructions, input items with input_text/output_text/input_image, store false", () => {
    const req: ChatRequest = {
      messages: [
        { role: "system", content: "sys" },
        { role: "user", content: [{ type: "text", text: "u" }, { type: "image_url", image_url: { url: "https://example.com/i.png" } }] },
        { role: "assistant", content: "a" },
      ],
      maxTokens: 8,
    };
    const r = buildProviderRequest({ provider: "openai-codex", api: "openai-responses", baseUrl: "https://chatgpt.com/backend-api", model: "gpt-5.2" }, { type: "oauth", value: "t-0123456789" }, req);
    expect(body(r)).toEqual({
      model: "gpt-5.2",
      input: [
        { role: "user", content: [{ type: "input_text", text: "u" }, { type: "input_image", image_url: "https://example.com/i.png" }] },
        { role: "assistant", content: [{ type: "output_text", text: "a" }] },
      ],
      stream: false,
      store: false,
      instructions: "sys",
      max_output_tokens: 8,
    });
  });
});

describe("response parsing", () => {
  test("anthropic: text blocks joined, stop reasons, usage", () => {
    const doc = (stop_reason: string) =>
      JSON.stringify({ type: "message", content: [{ type: "text", text: "Hel" }, { type: "tool_use", id: "t" }, { type: "text", text: "lo" }], stop_reason, usage: { input_tokens: 12, output_tokens: 3 } });
    expect(parseCompletion("anthropic-messages", doc("end_turn"))).toEqual({
      ok: true,
      completion: { content: "Hello", finishReason: "stop", usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 } },
    });
    const finish = (s: string) => {
      const p = parseCompletion("anthropic-messages", doc(s));
      return p.ok ? p.completion.finishReason : "failed";
    };
    expect([finish("stop_sequence"), finish("max_tokens"), finish("refusal")]).toEqual(["stop", "length", "content_filter"]);
  });

  test("openai-compatible: passed through, first choice read", () => {
    const doc = { id: "c", object: "chat.completion", model: "m", choices: [{ index: 0, message: { role: "assistant", content: "OK" }, finish_reason: "length" }], usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } };
    expect(parseCompletion("openai-completions", JSON.stringify(doc))).toEqual({
      ok: true,
      completion: { content: "OK", finishReason: "length", usage: doc.usage, passthrough: doc },
    });
  });

  test("google: parts joined, finish reasons, usageMetadata", () => {
    const doc = (finishReason: string) =>
      JSON.stringify({ candidates: [{ content: { parts: [{ text: "O" }, { text: "K" }] }, finishReason }], usageMetadata: { promptTokenCount: 4, candidatesTokenCount: 1, totalTokenCount: 6 } });
    expect(parseCompletion("google-generative-ai", doc("STOP"))).toEqual({
      ok: true,
      completion: { content: "OK", finishReason: "stop", usage: { prompt_tokens: 4, completion_tokens: 1, total_tokens: 6 } },
    });
    for (const [g, f] of [["MAX_TOKENS", "length"], ["SAFETY", "content_filter"], ["RECITATION", "content_filter"], ["BLOCKLIST", "content_filter"], ["PROHIBITED_CONTENT", "content_filter"]]) {
      const p = parseCompletion("google-generative-ai", doc(g!));
      expect(p.ok && p.completion.finishReason).toBe(f!);
    }
  });

  test("responses: output_text of message items, completed/incomplete", () => {
    const doc = (status: string, reason?: string) =>
      JSON.stringify({
        status,
        incomplete_details: reason ? { reason } : undefined,
        output: [{ type: "reasoning" }, { type: "message", content: [{ type: "output_text", text: "O" }, { type: "output_text", text: "K" }] }],
        usage: { input_tokens: 2, output_tokens: 1 },
      });
    expect(parseCompletion("openai-responses", doc("completed"))).toEqual({
      ok: true,
      completion: { content: "OK", finishReason: "stop", usage: { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 } },
    });
    const inc = parseCompletion("openai-responses", doc("incomplete", "max_output_tokens"));
    expect(inc.ok && inc.completion.finishReason).toBe("length");
  });

  const failures: Array<[api: ApiKind, text: string]> = [
    ["anthropic-messages", JSON.stringify({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } })],
    ["anthropic-messages", JSON.stringify({ type: "message" })],
    ["openai-completions", JSON.stringify({ error: { message: "quota", type: "insufficient_quota" } })],
    ["openai-completions", JSON.stringify({ choices: [] })],
    ["google-generative-ai", JSON.stringify({ candidates: [] })],
    ["openai-responses", JSON.stringify({ status: "failed", output: [], error: { code: "rate_limit_exceeded", message: "slow" } })],
    ["openai-completions", "not json"],
    ["openai-completions", "null"],
  ];
  test.each(failures)("%s: %s is not a completion", (api, text) => {
    expect(parseCompletion(api, text).ok).toBe(false);
  });

  test("an error body keeps its structured error for the classifier", () => {
    expect(parseCompletion("openai-responses", JSON.stringify({ status: "failed", output: [], error: { code: "rate_limit_exceeded", message: "slow" } }))).toEqual({
      ok: false,
      structured: { type: undefined, code: "rate_limit_exceeded", status: undefined, message: "slow" },
      text: "slow",
    });
  });
});

const sse = (data: unknown, event?: string) => `${event ? `event: ${event}\n` : ""}data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;

function eventsOf(api: ApiKind, text: string, chunk = text.length): StreamEvent[] {
  const p = new SseParser();
  const state = {};
  const out: StreamEvent[] = [];
  for (let i = 0; i < text.length; i += chunk) for (const rec of p.push(text.slice(i, i + chunk))) out.push(...streamEvents(api, rec, state));
  for (const rec of p.flush()) out.push(...streamEvents(api, rec, state));
  return out;
}

describe("SSE parsing", () => {
  const text = ": comment\n\nevent: message_start\ndata: {\"type\":\"message_start\"}\n\ndata: {\"a\":1}\ndata: {\"b\":2}\n\n";
  test("records, comments, multi-line data", () => {
    const p = new SseParser();
    expect(p.push(text)).toEqual([{ event: "message_start", data: '{"type":"message_start"}' }, { event: undefined, data: '{"a":1}\n{"b":2}' }]);
  });

  test("the same records whatever the chunking, with LF or CRLF line ends", () => {
    const whole = new SseParser().push(text);
    for (const t of [text, text.replace(/\n/g, "\r\n")]) {
      for (const size of [1, 2, 3, 7]) {
        const p = new SseParser();
        const got: Array<{ event?: string; data: string }> = [];
        for (let i = 0; i < t.length; i += size) got.push(...p.push(t.slice(i, i + size)));
        got.push(...p.flush());
        expect(got).toEqual(whole);
      }
    }
  });

  test("flush returns a last record without a trailing blank line", () => {
    const p = new SseParser();
    expect(p.push("data: [DONE]")).toEqual([]);
    expect(p.flush()).toEqual([{ event: undefined, data: "[DONE]" }]);
    expect(p.flush()).toEqual([]);
  });
});

describe("stream event mapping", () => {
  test("anthropic: message_start → role, text_delta → content, message_delta → finish + usage, message_stop → done, ping ignored", () => {
    const t =
      sse({ type: "message_start", message: { usage: { input_tokens: 9 } } }, "message_start") +
      sse({ type: "ping" }, "ping") +
      sse({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }, "content_block_start") +
      sse({ type: "content_block_delta", delta: { type: "text_delta", text: "Hel" } }, "content_block_delta") +
      sse({ type: "content_block_delta", delta: { type: "text_delta", text: "lo" } }, "content_block_delta") +
      sse({ type: "message_delta", delta: { stop_reason: "max_tokens" }, usage: { output_tokens: 2 } }, "message_delta") +
      sse({ type: "message_stop" }, "message_stop");
    const ev = eventsOf("anthropic-messages", t, 5);
    expect(ev.map((e) => e.kind)).toEqual(["role", "content", "content", "finish", "done"]);
    expect(ev.filter((e) => e.kind === "content").map((e) => (e as { text: string }).text).join("")).toBe("Hello");
    // Input tokens come from message_start, output tokens from message_delta.
    expect(ev[3]).toEqual({ kind: "finish", finishReason: "length", usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 } });
  });

  test("openai: chunks pass through until [DONE]; a chunk with error is a failure", () => {
    const chunk = { id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: "O" }, finish_reason: null }] };
    expect(eventsOf("openai-completions", sse(chunk) + sse("[DONE]"))).toEqual([{ kind: "passthrough", chunk }, { kind: "done" }]);
    const err = eventsOf("openai-completions", sse({ error: { type: "server_error", message: "boom" } }));
    expect(err).toEqual([{ kind: "error", structured: { type: "server_error", code: undefined, status: undefined, message: "boom" }, text: "boom" }]);
  });

  test("google: each data object → content; finishReason → finish + done", () => {
    const t = sse({ candidates: [{ content: { parts: [{ text: "O" }] } }] }) + sse({ candidates: [{ content: { parts: [{ text: "K" }] }, finishReason: "STOP" }], usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1, totalTokenCount: 4 } });
    expect(eventsOf("google-generative-ai", t)).toEqual([
      { kind: "content", text: "O" },
      { kind: "content", text: "K" },
      { kind: "finish", finishReason: "stop", usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } },
      { kind: "done" },
    ]);
  });

  test("responses: output_text.delta → content, completed → finish + done, failed → error", () => {
    const t = sse({ type: "response.created" }, "response.created") + sse({ type: "response.output_text.delta", delta: "OK" }, "response.output_text.delta") + sse({ type: "response.completed", response: { usage: { input_tokens: 2, output_tokens: 1 } } }, "response.completed");
    expect(eventsOf("openai-responses", t)).toEqual([
      { kind: "content", text: "OK" },
      { kind: "finish", finishReason: "stop", usage: { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 } },
      { kind: "done" },
    ]);
    const f = eventsOf("openai-responses", sse({ type: "response.failed", response: { error: { code: "rate_limit_exceeded", message: "slow" } } }, "response.failed"));
    expect(f).toEqual([{ kind: "error", structured: { type: undefined, code: "rate_limit_exceeded", status: undefined, message: "slow" }, text: "slow" }]);
  });

  test("invalid JSON in a data line is an error event", () => {
    expect(eventsOf("openai-completions", sse("{oops"))[0]!.kind).toBe("error");
  });
});

// A 200 status alone is never success (07 §5): the stream must finish without an error event.
describe("a 200 stream that ends in an error event (fake provider, real HTTP)", () => {
  const fp = startFakeProvider();
  afterAll(() => fp.stop());
  const kinds: Array<[api: ApiKind, target: Omit<AdapterTarget, "baseUrl">, cred: AttemptCredential, errorType: string]> = [
    ["anthropic-messages", { provider: "anthropic", api: "anthropic-messages", model: "claude-x" }, key("k-stream-anthropic"), "overloaded_error"],
    ["openai-completions", { provider: "openai", api: "openai-completions", model: "gpt-x" }, key("k-stream-openai"), "server_error"],
    ["google-generative-ai", { provider: "google", api: "google-generative-ai", model: "gemini-x" }, key("k-stream-google"), "UNAVAILABLE"],
    ["openai-responses", { provider: "openai-codex", api: "openai-responses", model: "gpt-5.2" }, { type: "oauth", value: "k-stream-responses" }, "server_error"],
  ];
  test.each(kinds)("%s", async (api, target, cred, errorType) => {
    fp.script(cred.value, { reply: "one two three", streamErrorAfter: 2 });
    const req = buildProviderRequest({ ...target, baseUrl: fp.url }, cred, { ...hi, stream: true });
    const res = await postStream(req, 5000);
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    expect(res.status).toBe(200);
    const ev = eventsOf(api, await new Response(res.body).text());
    const content = ev.filter((e) => e.kind === "content" || e.kind === "passthrough");
    expect(content.length).toBe(2);
    const last = ev[ev.length - 1]!;
    expect(last.kind).toBe("error");
    const s = (last as Extract<StreamEvent, { kind: "error" }>).structured;
    expect([s?.type, s?.code, s?.status]).toContain(errorType);
    expect(ev.some((e) => e.kind === "done" || e.kind === "finish")).toBe(false);
    expect(fp.requests.at(-1)!.credential).toBe(cred.value);
  });

  test("the same stream without the error finishes with done", async () => {
    fp.script("k-stream-ok", { reply: "one two" });
    const res = await postStream(buildProviderRequest({ provider: "anthropic", api: "anthropic-messages", model: "c", baseUrl: fp.url }, key("k-stream-ok"), { ...hi, stream: true }), 5000);
    if (!res.ok) throw new Error("transport failure");
    const ev = eventsOf("anthropic-messages", await new Response(res.body).text());
    expect(ev.at(-1)).toEqual({ kind: "done" });
    expect(ev.some((e) => e.kind === "error")).toBe(false);
  });
});
