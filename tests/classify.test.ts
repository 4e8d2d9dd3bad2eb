// The one error classifier and the env-key rotation trigger (spec 07 §6, 02 §4 D6), as a table per rule.
import { afterAll, describe, expect, test } from "bun:test";
import { classifyFailure, extractStructuredError, type FailureInput, type FailureReason } from "../lib/classify.ts";
import { attemptOnce } from "../lib/runtime.ts";
import type { ApiKind } from "../lib/providers.ts";
import { startFakeProvider } from "./fake-provider.ts";

const CLAUDE_ONLY = "This credential is only authorized for use with Claude Code and cannot be used for other API requests.";
const anthropicErr = (type: string, message = "x") => extractStructuredError({ type: "error", error: { type, message } });
const openaiErr = (type: string, code: string | null, message = "x") => extractStructuredError({ error: { type, code, message } });
const googleErr = (code: number, status: string, message = "x") => extractStructuredError({ error: { code, status, message } });

type Row = [name: string, input: FailureInput, reason: FailureReason];

// One table, in spec row order; each row names the rule it proves. First match wins, so several rows pit a row
// against a later one that would also match.
const rows: Row[] = [
  // 1 transport
  ["1 jarvis's own timeout", { transport: "TIMEOUT", text: "request timed out" }, "timeout"],
  ...["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EPIPE", "SOCKET_CLOSED"].map(
    (code): Row => [`1 transport ${code}`, { transport: code, text: `network error (${code})` }, "timeout"],
  ),
  ["1 transport wins over rate-limit text", { transport: "ECONNRESET", text: "rate limit" }, "timeout"],
  // 2 Claude-Code-only credential
  ["2 Claude Code only (400 invalid_request_error)", { status: 400, structured: anthropicErr("invalid_request_error", CLAUDE_ONLY) }, "auth_permanent"],
  ["2 Claude Code only, case-insensitive, plain 403 body", { status: 403, text: `error: ${CLAUDE_ONLY.toUpperCase()}` }, "auth_permanent"],
  ["2 wins over context overflow text", { status: 400, text: `${CLAUDE_ONLY} prompt is too long` }, "auth_permanent"],
  ["2 wins over a structured rate limit", { status: 429, structured: anthropicErr("rate_limit_error", CLAUDE_ONLY) }, "auth_permanent"],
  // 3 context overflow
  ["3 status 413", { status: 413, text: "payload" }, "context_overflow"],
  ["3 prompt is too long", { status: 400, structured: anthropicErr("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum") }, "context_overflow"],
  ["3 context_length_exceeded", { status: 400, structured: openaiErr("invalid_request_error", "context_length_exceeded", "This model's maximum context length is 128000 tokens") }, "context_overflow"],
  ["3 request_too_large", { status: 400, text: "request_too_large" }, "context_overflow"],
  ["3 input is too long", { status: 400, text: "Input is too long for requested model." }, "context_overflow"],
  ["3 exceeds the maximum number of input tokens", { status: 400, structured: googleErr(400, "INVALID_ARGUMENT", "The input token count exceeds the maximum number of tokens allowed") }, "context_overflow"],
  ["3 wins over a structured rate limit", { status: 429, structured: openaiErr("rate_limit_error", null, "context length exceeded") }, "context_overflow"],
  // 4 structured rate limit
  ["4 anthropic rate_limit_error", { status: 429, structured: anthropicErr("rate_limit_error") }, "rate_limit"],
  ["4 openai rate_limit_exceeded (code)", { status: 429, structured: openaiErr("requests", "rate_limit_exceeded") }, "rate_limit"],
  ["4 google RESOURCE_EXHAUSTED", { status: 429, structured: googleErr(429, "RESOURCE_EXHAUSTED") }, "rate_limit"],
  ["4 too_many_requests", { status: 400, structured: openaiErr("too_many_requests", null) }, "rate_limit"],
  ["4 throttling_exception beats status 400", { status: 400, structured: openaiErr("throttling_exception", null) }, "rate_limit"],
  ["4 wins over overloaded text on 429", { status: 429, structured: anthropicErr("rate_limit_error", "overloaded") }, "rate_limit"],
  // 5 overloaded
  ["5 anthropic overloaded_error (529)", { status: 529, structured: anthropicErr("overloaded_error", "Overloaded") }, "overloaded"],
  ["5 structured overloaded on a 500", { status: 500, structured: openaiErr("overloaded", null) }, "overloaded"],
  ["5 google UNAVAILABLE", { status: 503, structured: googleErr(503, "UNAVAILABLE", "The model is overloaded.") }, "overloaded"],
  ["5 429 with body text overloaded", { status: 429, text: "Server overloaded, please retry" }, "overloaded"],
  ["5 503 with body text overloaded", { status: 503, text: "OVERLOADED" }, "overloaded"],
  ["5 wins over billing", { structured: { type: "overloaded_error", code: "insufficient_quota" } }, "overloaded"],
  // 6 billing (structured)
  ["6 insufficient_quota on 429", { status: 429, structured: openaiErr("insufficient_quota", "insufficient_quota", "You exceeded your current quota") }, "billing"],
  ["6 billing_error", { status: 400, structured: anthropicErr("billing_error") }, "billing"],
  ["6 payment_required", { status: 402, structured: openaiErr("payment_required", null) }, "billing"],
  ["6 wins over invalid_api_key", { status: 401, structured: { type: "billing_error", code: "invalid_api_key" } }, "billing"],
  // 7 auth_permanent (structured)
  ["7 invalid_api_key", { status: 401, structured: openaiErr("invalid_request_error", "invalid_api_key", "Incorrect API key provided") }, "auth_permanent"],
  ["7 permission_error", { status: 403, structured: anthropicErr("permission_error") }, "auth_permanent"],
  ["7 PERMISSION_DENIED", { status: 403, structured: googleErr(403, "PERMISSION_DENIED") }, "auth_permanent"],
  ["7 account_deactivated", { status: 401, structured: openaiErr("invalid_request_error", "account_deactivated") }, "auth_permanent"],
  // 8 auth (structured)
  ["8 authentication_error", { status: 401, structured: anthropicErr("authentication_error", "invalid x-api-key") }, "auth"],
  ["8 UNAUTHENTICATED", { status: 401, structured: googleErr(401, "UNAUTHENTICATED") }, "auth"],
  ["8 wins over the 404 status", { status: 404, structured: anthropicErr("authentication_error") }, "auth"],
  // 9 model not found
  ["9 not_found_error", { status: 404, structured: anthropicErr("not_found_error", "model: claude-x") }, "model_not_found"],
  ["9 model_not_found code on a 400", { status: 400, structured: openaiErr("invalid_request_error", "model_not_found") }, "model_not_found"],
  ["9 google NOT_FOUND", { status: 404, structured: googleErr(404, "NOT_FOUND") }, "model_not_found"],
  ["9 bare 404", { status: 404, text: "not found" }, "model_not_found"],
  // 10 401/403
  ["10 401 revoked key", { status: 401, text: "This API key has been revoked" }, "auth_permanent"],
  ["10 403 disabled", { status: 403, text: "Your organization has been disabled." }, "auth_permanent"],
  ["10 401 deactivated", { status: 401, text: "account deactivated" }, "auth_permanent"],
  ["10 403 billing text", { status: 403, text: "Your credit balance is too low to access the API" }, "billing"],
  ["10 401 otherwise", { status: 401, text: "bad key" }, "auth"],
  ["10 403 otherwise", { status: 403, text: "" }, "auth"],
  // 11 402
  ["11 402 billing text", { status: 402, text: "Insufficient credits. Add more credits to continue." }, "billing"],
  ["11 402 billing text beats temporary text", { status: 402, text: "daily limit reached; top up to continue" }, "billing"],
  ["11 402 try again + limit", { status: 402, text: "Spend limit reached, try again in 10 minutes" }, "rate_limit"],
  ["11 402 resets + limit", { status: 402, text: "Usage limit resets at 00:00 UTC" }, "rate_limit"],
  ["11 402 daily + limit", { status: 402, text: "daily request limit exceeded" }, "rate_limit"],
  ["11 402 monthly + limit", { status: 402, text: "limit for this monthly plan reached" }, "rate_limit"],
  ["11 402 otherwise", { status: 402, text: "Payment Required" }, "billing"],
  ["11 402 marker in text without status", { text: "upstream said 402 Payment Required" }, "billing"],
  ["11 402 marker + weekly limit", { text: "402: weekly limit reached" }, "rate_limit"],
  ["11 402 inside a longer number is no marker", { text: "order #140215 failed" }, "unknown"],
  // 12 429
  ["12 plain 429", { status: 429, text: "slow down" }, "rate_limit"],
  ["12 429 with an empty body", { status: 429 }, "rate_limit"],
  // 13 400/422
  ["13 400 billing text", { status: 400, text: "Your credit balance is too low" }, "billing"],
  ["13 400 model not found text", { status: 400, text: "The model `gpt-9` does not exist or you do not have access to it." }, "model_not_found"],
  ["13 400 unknown model text", { status: 400, text: "unknown model: foo" }, "model_not_found"],
  ["13 400 otherwise", { status: 400, structured: anthropicErr("invalid_request_error", "messages: field required") }, "format"],
  ["13 400 'does not exist' about a parameter is format", { status: 400, text: "Parameter `foo` does not exist." }, "format"],
  ["13 422", { status: 422, text: "Unprocessable" }, "format"],
  // 14 timeouts by status
  ...[408, 500, 502, 503, 504, 520, 521, 522, 523, 524].map((s): Row => [`14 status ${s}`, { status: s, text: "upstream error" }, "timeout"]),
  // 15 529
  ["15 529 without a body", { status: 529 }, "overloaded"],
  // 16 other 4xx / 5xx
  ["16 418", { status: 418, text: "teapot" }, "format"],
  ["16 409", { status: 409 }, "format"],
  ["16 501", { status: 501 }, "timeout"],
  ["16 599", { status: 599 }, "timeout"],
  // 17 no status: text patterns in order
  ["17 billing text", { text: "Your credit balance is too low" }, "billing"],
  ["17 billing before rate limit", { text: "quota reached: add more credits" }, "billing"],
  ["17 rate limit", { text: "Rate limit reached for requests" }, "rate_limit"],
  ["17 rate_limit", { text: "rate_limit hit" }, "rate_limit"],
  ["17 too many requests", { text: "Too Many Requests" }, "rate_limit"],
  ["17 quota", { text: "You exceeded your current quota" }, "rate_limit"],
  ["17 resource exhausted", { text: "Resource exhausted" }, "rate_limit"],
  ["17 standalone 429", { text: "upstream returned 429" }, "rate_limit"],
  ["17 tokens per minute", { text: "tokens per minute exceeded" }, "rate_limit"],
  ["17 usage limit", { text: "You have hit your usage limit" }, "rate_limit"],
  ["17 rate limit before overloaded", { text: "rate limit: no capacity" }, "rate_limit"],
  ["17 overloaded", { text: "Overloaded" }, "overloaded"],
  ["17 high demand", { text: "We are experiencing high demand" }, "overloaded"],
  ["17 capacity", { text: "no capacity available" }, "overloaded"],
  ["17 overloaded before timeout", { text: "overloaded; request timed out" }, "overloaded"],
  ["17 timed out", { text: "request timed out" }, "timeout"],
  ["17 deadline exceeded", { text: "Deadline exceeded" }, "timeout"],
  ["17 fetch failed", { text: "fetch failed" }, "timeout"],
  ["17 socket hang up", { text: "socket hang up" }, "timeout"],
  ["17 timeout before auth", { text: "authentication timed out" }, "timeout"],
  ["17 invalid api key", { text: "Invalid API key" }, "auth_permanent"],
  ["17 invalid_api_key", { text: "invalid_api_key" }, "auth_permanent"],
  ["17 key has been revoked", { text: "this key has been revoked" }, "auth_permanent"],
  ["17 account has been deactivated", { text: "Your account has been deactivated" }, "auth_permanent"],
  ["17 auth_permanent before auth", { text: "unauthorized: invalid api key" }, "auth_permanent"],
  ["17 unauthorized", { text: "Unauthorized" }, "auth"],
  ["17 token has expired", { text: "token has expired" }, "auth"],
  ["17 forbidden", { text: "Forbidden" }, "auth"],
  ["17 standalone 401", { text: "got 401 from upstream" }, "auth"],
  ["17 standalone 403", { text: "HTTP/1.1 403" }, "auth"],
  ["17 model not found", { text: "model not found" }, "model_not_found"],
  ["17 unknown model", { text: "Unknown model claude-x" }, "model_not_found"],
  ["17 invalid request format", { text: "invalid request format" }, "format"],
  ["17 tool_use_id", { text: "unexpected tool_use_id" }, "format"],
  // the standalone-429 rule
  ["#14290 is not a 429", { text: "Payment for order #14290 failed" }, "unknown"],
  ["a 429 glued to letters is not a 429", { text: "error code e429x" }, "unknown"],
  ["a 401 inside a number is not a 401", { text: "ticket 14011" }, "unknown"],
  // 18
  ["18 nothing matched", { text: "something odd happened" }, "unknown"],
  ["18 empty input", {}, "unknown"],
];

describe("classification (07 §6, first match wins)", () => {
  test.each(rows)("%s", (_name, input, reason) => {
    expect(classifyFailure(input).reason).toBe(reason);
  });

  test("every numbered row of the spec table is covered", () => {
    const covered = new Set(rows.map(([n]) => n.match(/^(\d+) /)?.[1]).filter(Boolean));
    for (let i = 1; i <= 18; i++) expect(covered.has(String(i))).toBe(true);
  });
});

describe("message and the Claude-Code-only hint (07 §8)", () => {
  test("the hint is appended to the message and exposed on its own", () => {
    const c = classifyFailure({ status: 400, structured: anthropicErr("invalid_request_error", CLAUDE_ONLY) });
    expect(c.reason).toBe("auth_permanent");
    expect(c.hint).toBe(
      "This Anthropic credential (a Claude subscription setup-token/OAuth token) is only authorized for Claude Code. Use an Anthropic API key instead: set ANTHROPIC_API_KEY in ~/.jarvis/.env, or run jarvis models auth paste-token --provider anthropic and paste an sk-ant-api… key.",
    );
    expect(c.message).toBe(`HTTP 400: ${CLAUDE_ONLY} ${c.hint}`);
    expect(c.rotate).toBe(false);
  });

  test("other errors carry no hint", () => {
    expect(classifyFailure({ status: 401, text: "bad key" }).hint).toBeUndefined();
  });

  test("message: the structured message, else the first 2000 chars of the body, redacted", () => {
    expect(classifyFailure({ status: 429, structured: openaiErr("rate_limit_error", null, "rate limit exceeded") }).message).toBe("HTTP 429: rate limit exceeded");
    const long = "x".repeat(2500);
    expect(classifyFailure({ status: 500, text: long }).message).toBe(`HTTP 500: ${"x".repeat(2000)}`);
    const key = "sk-proj-TESTFAKE-echoed-0123456789abcdef";
    const m = classifyFailure({ status: 401, text: `Incorrect API key provided: ${key}` }).message;
    expect(m).not.toContain(key);
    expect(m).toContain("sk-proj-…cdef");
    expect(classifyFailure({ transport: "ECONNREFUSED", text: "network error (ECONNREFUSED)" }).message).toBe("network error (ECONNREFUSED)");
  });

  test("structured extraction of the three body shapes and SSE error objects", () => {
    expect(extractStructuredError({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } })).toEqual({
      type: "overloaded_error",
      code: undefined,
      status: undefined,
      message: "Overloaded",
    });
    expect(extractStructuredError('{"error":{"type":"invalid_request_error","code":"invalid_api_key","message":"m"}}')).toMatchObject({
      type: "invalid_request_error",
      code: "invalid_api_key",
    });
    expect(extractStructuredError([{ error: { code: 429, status: "RESOURCE_EXHAUSTED", message: "q" } }])).toMatchObject({ code: "429", status: "RESOURCE_EXHAUSTED" });
    expect(extractStructuredError({ choices: [] })).toBeUndefined();
    expect(extractStructuredError("not json")).toBeUndefined();
  });
});

type RotRow = [name: string, input: FailureInput, rotate: boolean];

const rotation: RotRow[] = [
  ["HTTP 429 rotates", { status: 429, text: "slow down" }, true],
  ["HTTP 429 with a structured rate limit rotates", { status: 429, structured: anthropicErr("rate_limit_error") }, true],
  ["HTTP 429 that is an overload does not", { status: 429, text: "overloaded" }, false],
  ["HTTP 429 with a structured overload does not", { status: 429, structured: anthropicErr("overloaded_error") }, false],
  ["HTTP 401 does not", { status: 401, structured: openaiErr("invalid_request_error", "invalid_api_key") }, false],
  ["HTTP 403 does not", { status: 403, text: "forbidden" }, false],
  ["HTTP 400 does not, even with a structured rate limit", { status: 400, structured: anthropicErr("rate_limit_error") }, false],
  ["HTTP 400 with insufficient_quota does not", { status: 400, structured: openaiErr("insufficient_quota", "insufficient_quota") }, false],
  ["HTTP 404 does not", { status: 404 }, false],
  ["HTTP 500 does not", { status: 500, text: "rate limit" }, false],
  ["HTTP 503 with RESOURCE_EXHAUSTED does not (5xx)", { status: 503, structured: googleErr(503, "RESOURCE_EXHAUSTED") }, false],
  ["HTTP 529 does not", { status: 529, structured: anthropicErr("overloaded_error") }, false],
  ["no status, overloaded event does not", { structured: anthropicErr("overloaded_error", "Overloaded") }, false],
  ["HTTP 402 refined to rate_limit rotates", { status: 402, text: "daily limit reached, try again tomorrow" }, true],
  ["HTTP 402 billing does not", { status: 402, text: "insufficient credits" }, false],
  ["structured insufficient_quota (429) rotates", { status: 429, structured: openaiErr("insufficient_quota", "insufficient_quota") }, true],
  ["structured insufficient_quota in a 2xx body rotates", { structured: openaiErr("insufficient_quota", "insufficient_quota", "You exceeded your current quota") }, true],
  ["structured rate_limit_exceeded without status rotates", { structured: openaiErr("requests", "rate_limit_exceeded") }, true],
  ["structured RESOURCE_EXHAUSTED (429) rotates", { status: 429, structured: googleErr(429, "RESOURCE_EXHAUSTED") }, true],
  ["structured throttling_exception without rate text does not", { structured: { type: "throttling_exception", message: "slow" } }, false],
  ["no status, text rate limit rotates", { text: "Rate limit reached" }, true],
  ["no status, too many requests rotates", { text: "too many requests" }, true],
  ["no status, quota rotates", { text: "quota exceeded" }, true],
  ["no status, resource_exhausted rotates", { text: "RESOURCE_EXHAUSTED" }, true],
  ["no status, standalone 429 rotates", { text: "status 429" }, true],
  ["no status, #14290 does not", { text: "order #14290 failed" }, false],
  ["no status, usage limit is rate_limit but not in the D6 set", { text: "usage limit" }, false],
  ["transport errors do not", { transport: "ECONNRESET", text: "rate limit" }, false],
  ["auth text does not", { text: "unauthorized" }, false],
];

describe("rotation trigger (D6)", () => {
  test.each(rotation)("%s", (_name, input, rotate) => {
    expect(classifyFailure(input).rotate).toBe(rotate);
  });

  test("the trigger is independent of the reason: insufficient_quota on 429 is billing and still rotates", () => {
    expect(classifyFailure({ status: 429, structured: openaiErr("insufficient_quota", "insufficient_quota") })).toMatchObject({ reason: "billing", rotate: true });
    expect(classifyFailure({ status: 402, text: "daily limit reached, try again tomorrow" })).toMatchObject({ reason: "rate_limit", rotate: true });
  });
});

// A 2xx response is success only when its body is an error-free completion (07 §5 step 5, §6): through the real
// HTTP edge and adapters against the fake provider.
describe("2xx with an error body is classified as a failure without status", () => {
  const fp = startFakeProvider();
  afterAll(() => fp.stop());
  const targets: Record<string, { api: ApiKind; provider: string; model: string }> = {
    anthropic: { api: "anthropic-messages", provider: "anthropic", model: "claude-x" },
    openai: { api: "openai-completions", provider: "groq", model: "m" },
    google: { api: "google-generative-ai", provider: "google", model: "gemini-x" },
    responses: { api: "openai-responses", provider: "custom", model: "r" },
  };
  const cases: Array<[name: string, kind: keyof typeof targets, body: unknown, reason: FailureReason, rotate: boolean]> = [
    ["anthropic error object in a 200", "anthropic", { type: "error", error: { type: "overloaded_error", message: "Overloaded" } }, "overloaded", false],
    ["openai insufficient_quota in a 200", "openai", { error: { type: "insufficient_quota", code: "insufficient_quota", message: "You exceeded your current quota" } }, "billing", true],
    ["openai rate limit text in a 200 error", "openai", { error: { message: "Rate limit reached for gpt" } }, "rate_limit", true],
    ["openai error without type, key text", "openai", { error: { message: "Invalid API key" } }, "auth_permanent", false],
    ["google RESOURCE_EXHAUSTED in a 200", "google", { error: { code: 429, status: "RESOURCE_EXHAUSTED", message: "Quota exceeded" } }, "rate_limit", true],
    ["responses failed status", "responses", { status: "failed", output: [], error: { code: "server_error", message: "upstream failed" } }, "unknown", false],
    ["a 200 that is not a completion", "openai", { choices: [] }, "unknown", false],
    ["a 200 error naming an order #14290", "openai", { error: { message: "order #14290 rejected" } }, "unknown", false],
    ["a 200 error with a standalone 429", "openai", { error: { message: "upstream 429" } }, "rate_limit", true],
  ];
  test.each(cases)("%s", async (_name, kind, body, reason, rotate) => {
    const key = `k-2xx-${_name}`;
    fp.script(key, { status: 200, body });
    const r = await attemptOnce({ ...targets[kind]!, baseUrl: fp.url }, { type: "api_key", value: key }, { messages: [{ role: "user", content: "hi" }] }, 5000);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.httpStatus).toBe(200);
    expect(r.failure.reason).toBe(reason);
    expect(r.failure.rotate).toBe(rotate);
    expect(r.failure.message).not.toStartWith("HTTP 200");
  });

  test("a body that is not JSON is a failure too", async () => {
    fp.script("k-2xx-text", { status: 200, text: "<html>gateway</html>" });
    const r = await attemptOnce({ ...targets.openai!, baseUrl: fp.url }, { type: "api_key", value: "k-2xx-text" }, { messages: [{ role: "user", content: "hi" }] }, 5000);
    expect(r).toMatchObject({ ok: false, httpStatus: 200, failure: { reason: "unknown", rotate: false } });
  });
});
