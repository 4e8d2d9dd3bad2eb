/**
 * The one error classifier (spec 07 §6) and the env-key rotation trigger (02 §4, D6).
 * Input: HTTP status, structured error from the body, message text, transport error code. Output: a reason.
 */
import { redact } from "./mask.ts";

export type FailureReason =
  | "auth"
  | "auth_permanent"
  | "billing"
  | "rate_limit"
  | "overloaded"
  | "timeout"
  | "format"
  | "context_overflow"
  | "model_not_found"
  | "unknown";

export interface StructuredError {
  type?: string;
  code?: string;
  status?: string;
  message?: string;
}

export interface FailureInput {
  /** HTTP status, absent for transport errors and for errors inside a 2xx response. */
  status?: number;
  structured?: StructuredError;
  /** Message text (structured message or the first 2000 chars of the body). */
  text?: string;
  /** Transport error code (`ECONNREFUSED`, …) or `TIMEOUT` for jarvis's own timeout. */
  transport?: string;
}

export interface Classified {
  reason: FailureReason;
  /** Redacted, human message. */
  message: string;
  /** Fix text for the Claude-Code-only credential error (07 §8). */
  hint?: string;
  /** Retry the same request with the next env key (D6). */
  rotate: boolean;
}

/** Appended wherever the Claude-Code-only error is shown (07 §8). */
const CLAUDE_CODE_ONLY_HINT =
  "This Anthropic credential (a Claude subscription setup-token/OAuth token) is only authorized for Claude Code. Use an Anthropic API key instead: set ANTHROPIC_API_KEY in ~/.jarvis/.env, or run jarvis models auth paste-token --provider anthropic and paste an sk-ant-api… key.";

const TRANSPORT = new Set(["TIMEOUT", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EPIPE", "SOCKET_CLOSED", "ConnectionRefused", "ConnectionClosed"]);
const CONTEXT = /prompt is too long|context[_ ]length|maximum context|request_too_large|input is too long|exceeds the maximum number of (input )?tokens/i;
const BILLING_TEXT = /insufficient credits|insufficient balance|credit balance|add more credits|top up|billing hard limit|upgrade your plan/i;
const RATE_TEXT = /rate[_ ]limit|too many requests|quota|resource[_ ]exhausted|\b429\b|tokens per minute|usage limit/i;
const OVERLOAD_TEXT = /overloaded|high demand|capacity/i;
const TIMEOUT_TEXT = /timed out|timeout|deadline exceeded|network error|fetch failed|socket hang up/i;
const AUTH_PERM_TEXT = /invalid[_ ]api[_ ]key|key has been (revoked|disabled)|account has been deactivated/i;
const AUTH_TEXT = /unauthorized|authentication|invalid token|token has expired|forbidden|\b401\b|\b403\b/i;
const MODEL_TEXT = /model not found|unknown model/i;
const FORMAT_TEXT = /invalid request format|tool_use_id/i;
const REVOKED_TEXT = /revoked|disabled|deactivated/i;
// "does not exist" only counts when it is about a model ("The model `x` does not exist"), not about a parameter.
const MODEL_404_TEXT = /model not found|unknown model|model_not_found|\bmodel\b[^.\n]{0,80}\bdoes not exist/i;
const TEMPORARY_402 = /(try again|retry|temporary|resets?)[\s\S]*limit|limit[\s\S]*(try again|retry|temporary|resets?)|(daily|weekly|monthly)[\s\S]*limit|limit[\s\S]*(daily|weekly|monthly)/i;
/** D6 rotation text for errors without an HTTP status (02 §4). */
const ROTATE_TEXT = /rate[_ ]limit|too many requests|quota|resource[_ ]exhausted/i;

const STRUCT = {
  rate_limit: ["rate_limit_error", "rate_limit_exceeded", "RESOURCE_EXHAUSTED", "too_many_requests", "throttling_exception"],
  overloaded: ["overloaded_error", "overloaded", "UNAVAILABLE"],
  billing: ["insufficient_quota", "billing_error", "payment_required"],
  auth_permanent: ["invalid_api_key", "permission_error", "PERMISSION_DENIED", "account_deactivated"],
  auth: ["authentication_error", "UNAUTHENTICATED"],
  model_not_found: ["not_found_error", "model_not_found", "NOT_FOUND"],
} as const;
const ROTATE_STRUCT = ["rate_limit_error", "rate_limit_exceeded", "insufficient_quota", "RESOURCE_EXHAUSTED"];

function structuredHas(s: StructuredError | undefined, names: readonly string[]): boolean {
  if (!s) return false;
  return [s.type, s.code, s.status].some((v) => v !== undefined && names.includes(String(v)));
}

/**
 * Pull the structured error out of a response body (07 §6): Anthropic `{type:"error", error:{type, message}}`,
 * OpenAI-compatible `{error:{type, code, message}}`, Google `{error:{code, status, message}}`, or the `error` object
 * of an SSE event. @returns undefined when the body carries no error
 */
export function extractStructuredError(body: unknown): StructuredError | undefined {
  let v = body;
  if (typeof v === "string") {
    try {
      v = JSON.parse(v);
    } catch {
      return undefined;
    }
  }
  if (Array.isArray(v)) v = v[0];
  if (!v || typeof v !== "object") return undefined;
  const e = (v as { error?: unknown }).error;
  if (!e) return undefined;
  if (typeof e === "string") return { message: e };
  if (typeof e !== "object") return undefined;
  const o = e as Record<string, unknown>;
  const str = (x: unknown) => (typeof x === "string" || typeof x === "number" ? String(x) : undefined);
  return { type: str(o.type), code: str(o.code), status: str(o.status), message: str(o.message) };
}

function reasonFor(input: FailureInput, text: string): FailureReason {
  const { status, structured: s } = input;
  if (input.transport && TRANSPORT.has(input.transport)) return "timeout";
  if (/only authorized for use with Claude Code/i.test(text)) return "auth_permanent";
  if (status === 413 || CONTEXT.test(text)) return "context_overflow";
  if (structuredHas(s, STRUCT.rate_limit)) return "rate_limit";
  if (structuredHas(s, STRUCT.overloaded) || ((status === 429 || status === 503) && /overloaded/i.test(text))) return "overloaded";
  if (structuredHas(s, STRUCT.billing)) return "billing";
  if (structuredHas(s, STRUCT.auth_permanent)) return "auth_permanent";
  if (structuredHas(s, STRUCT.auth)) return "auth";
  if (structuredHas(s, STRUCT.model_not_found) || status === 404) return "model_not_found";
  if (status === 401 || status === 403) return REVOKED_TEXT.test(text) ? "auth_permanent" : BILLING_TEXT.test(text) ? "billing" : "auth";
  if (status === 402 || (status === undefined && /\b402\b/.test(text))) {
    if (BILLING_TEXT.test(text)) return "billing";
    return TEMPORARY_402.test(text) ? "rate_limit" : "billing";
  }
  if (status === 429) return "rate_limit";
  if (status === 400 || status === 422) return BILLING_TEXT.test(text) ? "billing" : MODEL_404_TEXT.test(text) ? "model_not_found" : "format";
  if (status !== undefined && [408, 500, 502, 503, 504, 520, 521, 522, 523, 524].includes(status)) return "timeout";
  if (status === 529) return "overloaded";
  if (status !== undefined && status >= 400 && status < 500) return "format";
  if (status !== undefined && status >= 500) return "timeout";
  if (BILLING_TEXT.test(text)) return "billing";
  if (RATE_TEXT.test(text)) return "rate_limit";
  if (OVERLOAD_TEXT.test(text)) return "overloaded";
  if (TIMEOUT_TEXT.test(text)) return "timeout";
  if (AUTH_PERM_TEXT.test(text)) return "auth_permanent";
  if (AUTH_TEXT.test(text)) return "auth";
  if (MODEL_TEXT.test(text)) return "model_not_found";
  if (FORMAT_TEXT.test(text)) return "format";
  return "unknown";
}

/**
 * Classify a non-2xx HTTP response from its status and body text: the structured error of the body (07 §6) and its
 * message, else the first 2000 characters of the body.
 */
export function classifyHttpFailure(status: number, bodyText: string): Classified {
  const structured = extractStructuredError(bodyText);
  return classifyFailure({ status, structured, text: structured?.message ?? bodyText.slice(0, 2000) });
}

/**
 * Classify a failed call (07 §6, first match wins) and decide the rotation trigger (D6).
 * A 2xx response that carries an error must be passed without `status`.
 */
export function classifyFailure(input: FailureInput): Classified {
  const text = (input.structured?.message ?? input.text ?? "").slice(0, 2000);
  const reason = reasonFor(input, text);
  let rotate = false;
  if (reason !== "overloaded") {
    if (input.status === 429) rotate = true;
    else if (input.status === 402 && reason === "rate_limit") rotate = true;
    else if (structuredHas(input.structured, ROTATE_STRUCT)) rotate = true;
    else if (input.status === undefined && !input.transport && (ROTATE_TEXT.test(text) || /\b429\b/.test(text))) rotate = true;
  }
  if (input.status !== undefined && [400, 401, 403, 404, 529].includes(input.status)) rotate = false;
  if (input.status !== undefined && input.status >= 500) rotate = false;
  const base = input.status !== undefined ? `HTTP ${input.status}${text ? `: ${text}` : ""}` : text || input.transport || "request failed";
  const claudeOnly = /only authorized for use with Claude Code/i.test(text);
  return {
    reason,
    message: redact(claudeOnly ? `${base} ${CLAUDE_CODE_ONLY_HINT}` : base),
    hint: claudeOnly ? CLAUDE_CODE_ONLY_HINT : undefined,
    rotate,
  };
}
