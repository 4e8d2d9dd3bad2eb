/**
 * Provider adapters (spec 07 §7, 08 §7): map an OpenAI-shaped chat request to a provider request (URL, headers,
 * body), and a provider response (JSON or SSE) back to a completion. Pure: HTTP happens in http.ts.
 */
import type { ApiKind } from "./providers.ts";
import { extractStructuredError, type StructuredError } from "./classify.ts";

export type Role = "system" | "developer" | "user" | "assistant";
export type ContentPart = { type: "text"; text: string } | { type: "image_url"; image_url: { url: string } };

export interface ChatMessage {
  role: Role;
  content: string | ContentPart[];
}

/** The client request as the gateway accepts it (OpenAI chat-completions subset, 07 §2). */
export interface ChatRequest {
  messages: ChatMessage[];
  stream?: boolean;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  stop?: string | string[];
  user?: string;
}

/** The credential an attempt uses; `local` = `custom-local` / `ollama-local` (no auth header for custom-local). */
export interface AttemptCredential {
  type: "api_key" | "token" | "oauth" | "local";
  value: string;
  accountId?: string;
}

export interface AdapterTarget {
  provider: string;
  api: ApiKind;
  baseUrl: string;
  /** Model id (without provider). */
  model: string;
  /** `models.providers.<P>.headers` with refs resolved (lowest layer). */
  extraHeaders?: Record<string, string>;
}

export interface ProviderRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface Completion {
  content: string;
  finishReason: string;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  /** OpenAI-compatible upstream body, passed through by the gateway with `model` rewritten (07 §7.2). */
  passthrough?: Record<string, unknown>;
}

export type ParsedResponse = { ok: true; completion: Completion } | { ok: false; structured?: StructuredError; text: string };

/** A streaming delta in OpenAI chunk terms. */
export type StreamEvent =
  | { kind: "role" }
  | { kind: "content"; text: string }
  | { kind: "finish"; finishReason: string; usage?: Completion["usage"] }
  | { kind: "passthrough"; chunk: Record<string, unknown> }
  | { kind: "done" }
  | { kind: "error"; structured?: StructuredError; text: string };

const DEFAULT_MAX_TOKENS = 4096;

function textOf(content: ChatMessage["content"]): string {
  if (typeof content === "string") return content;
  return content.filter((p): p is { type: "text"; text: string } => p.type === "text").map((p) => p.text).join("\n");
}

function systemText(messages: ChatMessage[]): string {
  return messages.filter((m) => m.role === "system" || m.role === "developer").map((m) => textOf(m.content)).join("\n\n");
}

function parts(content: ChatMessage["content"]): ContentPart[] {
  return typeof content === "string" ? [{ type: "text", text: content }] : content;
}

/** Split a `data:<mime>;base64,<data>` URL. */
function dataUrl(url: string): { mime: string; data: string } | undefined {
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  return m ? { mime: m[1]!, data: m[2]! } : undefined;
}

/** Merge consecutive messages of the same role (Anthropic and Google require alternation). */
function mergeRuns<T extends { role: string; parts: unknown[] }>(items: T[]): T[] {
  const out: T[] = [];
  for (const it of items) {
    const last = out[out.length - 1];
    if (last && last.role === it.role) last.parts.push(...it.parts);
    else out.push({ ...it, parts: [...it.parts] });
  }
  return out;
}

const trimSlash = (u: string) => u.replace(/\/+$/, "");

/**
 * Set headers over lower layers, case-insensitively: a configured `Authorization` or `Content-Type` must be replaced,
 * not sent next to ours (fetch would join both values into one header).
 */
function layer(headers: Record<string, string>, top: Record<string, string>): void {
  for (const [name, value] of Object.entries(top)) {
    for (const k of Object.keys(headers)) if (k.toLowerCase() === name.toLowerCase()) delete headers[k];
    headers[name] = value;
  }
}

const AUTH_HEADERS = ["authorization", "x-api-key", "x-goog-api-key"];

/** Set the credential's auth header; configured auth headers of another scheme are dropped, so exactly one is sent. */
function authLayer(headers: Record<string, string>, auth: Record<string, string>): void {
  for (const k of Object.keys(headers)) if (AUTH_HEADERS.includes(k.toLowerCase())) delete headers[k];
  layer(headers, auth);
}

/**
 * Build the provider request (07 §7). Header layers: extra headers < adapter defaults < auth headers.
 * @throws Error with code `format` when the request cannot be mapped (Anthropic: first message must be `user`)
 */
export function buildProviderRequest(t: AdapterTarget, cred: AttemptCredential, req: ChatRequest): ProviderRequest {
  const base = trimSlash(t.baseUrl);
  const headers: Record<string, string> = { ...(t.extraHeaders ?? {}) };
  const convo = req.messages.filter((m) => m.role === "user" || m.role === "assistant");
  switch (t.api) {
    case "anthropic-messages": {
      const messages = mergeRuns(
        convo.map((m) => ({
          role: m.role,
          parts: parts(m.content).map((p) => {
            if (p.type === "text") return { type: "text", text: p.text };
            const d = dataUrl(p.image_url.url);
            return d
              ? { type: "image", source: { type: "base64", media_type: d.mime, data: d.data } }
              : { type: "image", source: { type: "url", url: p.image_url.url } };
          }),
        })),
      ).map((m) => ({ role: m.role, content: m.parts }));
      if (messages[0]?.role !== "user") throw Object.assign(new Error("the first non-system message must be from the user"), { code: "format" });
      const body: Record<string, unknown> = { model: t.model, max_tokens: req.maxTokens ?? DEFAULT_MAX_TOKENS, messages };
      const sys = systemText(req.messages);
      if (sys) body.system = sys;
      if (req.temperature !== undefined) body.temperature = req.temperature;
      if (req.topP !== undefined) body.top_p = req.topP;
      if (req.stop !== undefined) body.stop_sequences = Array.isArray(req.stop) ? req.stop : [req.stop];
      if (req.user !== undefined) body.metadata = { user_id: req.user };
      if (req.stream) body.stream = true;
      layer(headers, { "content-type": "application/json", "anthropic-version": "2023-06-01" });
      authLayer(headers, cred.type === "api_key" ? { "x-api-key": cred.value } : { authorization: `Bearer ${cred.value}` });
      if (cred.value.includes("sk-ant-oat")) layer(headers, { "anthropic-beta": "oauth-2025-04-20" });
      return { url: base.endsWith("/v1") ? `${base}/messages` : `${base}/v1/messages`, headers, body: JSON.stringify(body) };
    }
    case "openai-completions": {
      const body: Record<string, unknown> = { model: t.model, messages: req.messages };
      if (req.stream) body.stream = true;
      if (req.maxTokens !== undefined) body[t.provider === "openai" ? "max_completion_tokens" : "max_tokens"] = req.maxTokens;
      if (req.temperature !== undefined) body.temperature = req.temperature;
      if (req.topP !== undefined) body.top_p = req.topP;
      if (req.stop !== undefined) body.stop = req.stop;
      if (req.user !== undefined) body.user = req.user;
      if (req.stream && t.provider === "openai") body.stream_options = { include_usage: true };
      layer(headers, { "content-type": "application/json" });
      if (t.provider === "openrouter") layer(headers, { "X-Title": "jarvis" });
      if (cred.type !== "local" || cred.value !== "custom-local") authLayer(headers, { authorization: `Bearer ${cred.value}` });
      if (t.provider === "openai-codex" && cred.accountId) layer(headers, { "chatgpt-account-id": cred.accountId });
      return { url: `${base}/chat/completions`, headers, body: JSON.stringify(body) };
    }
    case "google-generative-ai": {
      const model = t.model.replace(/^models\//, "");
      const contents = mergeRuns(
        convo.map((m) => ({
          role: m.role === "assistant" ? "model" : "user",
          parts: parts(m.content).flatMap((p): Array<Record<string, unknown>> => {
            if (p.type === "text") return [{ text: p.text }];
            const d = dataUrl(p.image_url.url);
            return d ? [{ inline_data: { mime_type: d.mime, data: d.data } }] : [{ text: p.image_url.url }];
          }),
        })),
      );
      const body: Record<string, unknown> = { contents };
      const sys = systemText(req.messages);
      if (sys) body.systemInstruction = { parts: [{ text: sys }] };
      const gen: Record<string, unknown> = {};
      if (req.maxTokens !== undefined) gen.maxOutputTokens = req.maxTokens;
      if (req.temperature !== undefined) gen.temperature = req.temperature;
      if (req.topP !== undefined) gen.topP = req.topP;
      if (req.stop !== undefined) gen.stopSequences = Array.isArray(req.stop) ? req.stop : [req.stop];
      if (Object.keys(gen).length) body.generationConfig = gen;
      layer(headers, { "content-type": "application/json" });
      authLayer(headers, cred.type === "api_key" ? { "x-goog-api-key": cred.value } : { authorization: `Bearer ${cred.value}` });
      const url = req.stream ? `${base}/models/${model}:streamGenerateContent?alt=sse` : `${base}/models/${model}:generateContent`;
      return { url, headers, body: JSON.stringify(body) };
    }
    case "openai-responses": {
      const input = convo.map((m) => ({
        role: m.role,
        content: parts(m.content).map((p) =>
          p.type === "text" ? { type: m.role === "assistant" ? "output_text" : "input_text", text: p.text } : { type: "input_image", image_url: p.image_url.url },
        ),
      }));
      const body: Record<string, unknown> = { model: t.model, input, stream: Boolean(req.stream), store: false };
      const sys = systemText(req.messages);
      if (sys) body.instructions = sys;
      if (req.maxTokens !== undefined) body.max_output_tokens = req.maxTokens;
      layer(headers, { "content-type": "application/json" });
      authLayer(headers, { authorization: `Bearer ${cred.value}` });
      if (cred.accountId) layer(headers, { "chatgpt-account-id": cred.accountId });
      const url = t.provider === "openai-codex" ? `${base}/codex/responses` : `${base}/responses`;
      return { url, headers, body: JSON.stringify(body) };
    }
  }
}

const ANTHROPIC_FINISH: Record<string, string> = { end_turn: "stop", stop_sequence: "stop", max_tokens: "length", refusal: "content_filter", tool_use: "tool_calls" };
const GOOGLE_FINISH: Record<string, string> = { STOP: "stop", MAX_TOKENS: "length", SAFETY: "content_filter", RECITATION: "content_filter", BLOCKLIST: "content_filter", PROHIBITED_CONTENT: "content_filter" };

function usage(prompt: unknown, completion: unknown, total?: unknown): Completion["usage"] | undefined {
  if (typeof prompt !== "number" || typeof completion !== "number") return undefined;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: typeof total === "number" ? total : prompt + completion };
}

/**
 * Parse a non-streaming 2xx body (07 §7 "response"). A body that carries an error or does not parse as a completion
 * is a failure (07 §6): the caller classifies it without a status.
 */
export function parseCompletion(api: ApiKind, bodyText: string): ParsedResponse {
  let doc: any;
  try {
    doc = JSON.parse(bodyText);
  } catch {
    return { ok: false, text: `response is not JSON: ${bodyText.slice(0, 200)}` };
  }
  const structured = extractStructuredError(doc);
  if (structured || !doc || typeof doc !== "object") return { ok: false, structured, text: structured?.message ?? "response is not a completion" };
  switch (api) {
    case "anthropic-messages": {
      if (!Array.isArray(doc.content)) return { ok: false, text: "response has no content" };
      const content = doc.content.filter((b: any) => b?.type === "text").map((b: any) => String(b.text ?? "")).join("");
      return { ok: true, completion: { content, finishReason: ANTHROPIC_FINISH[doc.stop_reason] ?? "stop", usage: usage(doc.usage?.input_tokens, doc.usage?.output_tokens) } };
    }
    case "openai-completions": {
      const choice = Array.isArray(doc.choices) ? doc.choices[0] : undefined;
      if (!choice || typeof choice !== "object") return { ok: false, text: "response has no choices" };
      const content = typeof choice.message?.content === "string" ? choice.message.content : "";
      return {
        ok: true,
        completion: { content, finishReason: choice.finish_reason ?? "stop", usage: doc.usage, passthrough: doc },
      };
    }
    case "google-generative-ai": {
      const cand = Array.isArray(doc.candidates) ? doc.candidates[0] : undefined;
      if (!cand) return { ok: false, text: "response has no candidates" };
      const content = (cand.content?.parts ?? []).map((p: any) => (typeof p?.text === "string" ? p.text : "")).join("");
      const u = doc.usageMetadata;
      return { ok: true, completion: { content, finishReason: GOOGLE_FINISH[cand.finishReason] ?? "stop", usage: usage(u?.promptTokenCount, u?.candidatesTokenCount, u?.totalTokenCount) } };
    }
    case "openai-responses": {
      if (!Array.isArray(doc.output)) return { ok: false, text: "response has no output" };
      if (doc.status === "failed") return { ok: false, structured: extractStructuredError({ error: doc.error }), text: doc.error?.message ?? "response failed" };
      const content = doc.output
        .filter((o: any) => o?.type === "message")
        .flatMap((o: any) => (Array.isArray(o.content) ? o.content : []))
        .filter((c: any) => c?.type === "output_text")
        .map((c: any) => String(c.text ?? ""))
        .join("");
      const finish = doc.status === "incomplete" && doc.incomplete_details?.reason === "max_output_tokens" ? "length" : "stop";
      return { ok: true, completion: { content, finishReason: finish, usage: usage(doc.usage?.input_tokens, doc.usage?.output_tokens) } };
    }
  }
}

/**
 * Split an SSE text stream into events. Feed chunks; get complete `{event?, data}` records back. Line ends may be
 * LF, CRLF or CR, also when a CRLF is split across two chunks; `flush()` returns a last record that the stream
 * ended without a blank line after.
 */
export class SseParser {
  private buf = "";
  push(chunk: string): Array<{ event?: string; data: string }> {
    this.buf += chunk;
    // Hold a trailing CR back: it may be the first half of a CRLF.
    const cut = this.buf.endsWith("\r") ? this.buf.length - 1 : this.buf.length;
    const text = this.buf.slice(0, cut).replace(/\r\n?/g, "\n");
    const out: Array<{ event?: string; data: string }> = [];
    let rest = text;
    let i: number;
    while ((i = rest.indexOf("\n\n")) >= 0) {
      const rec = this.record(rest.slice(0, i));
      rest = rest.slice(i + 2);
      if (rec) out.push(rec);
    }
    this.buf = rest + this.buf.slice(cut);
    return out;
  }

  /** The record still buffered when the stream ended, if any. */
  flush(): Array<{ event?: string; data: string }> {
    const rec = this.record(this.buf.replace(/\r\n?/g, "\n").replace(/\n+$/, ""));
    this.buf = "";
    return rec ? [rec] : [];
  }

  private record(block: string): { event?: string; data: string } | undefined {
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    return data.length || event ? { event, data: data.join("\n") } : undefined;
  }
}

/** What a stream remembers between records: Anthropic reports input tokens in `message_start` only. */
export interface StreamState {
  promptTokens?: number;
}

/**
 * Map one SSE record of the provider stream to stream events (07 §7 "stream" rows, 08 §7).
 * @param state pass the same object for every record of one stream to get complete Anthropic usage
 */
export function streamEvents(api: ApiKind, rec: { event?: string; data: string }, state: StreamState = {}): StreamEvent[] {
  if (rec.data === "[DONE]") return [{ kind: "done" }];
  let d: any;
  try {
    d = rec.data ? JSON.parse(rec.data) : {};
  } catch {
    return [{ kind: "error", text: `invalid stream data: ${rec.data.slice(0, 200)}` }];
  }
  const type = rec.event ?? d?.type;
  switch (api) {
    case "anthropic-messages":
      if (type === "error") return [{ kind: "error", structured: extractStructuredError(d), text: d?.error?.message ?? "stream error" }];
      if (type === "message_start") {
        const input = d?.message?.usage?.input_tokens;
        if (typeof input === "number") state.promptTokens = input;
        return [{ kind: "role" }];
      }
      if (type === "content_block_delta" && d?.delta?.type === "text_delta") return [{ kind: "content", text: String(d.delta.text ?? "") }];
      if (type === "message_delta") {
        return [{ kind: "finish", finishReason: ANTHROPIC_FINISH[d?.delta?.stop_reason] ?? "stop", usage: usage(d?.usage?.input_tokens ?? state.promptTokens ?? 0, d?.usage?.output_tokens) }];
      }
      if (type === "message_stop") return [{ kind: "done" }];
      return [];
    case "openai-completions":
      if (d?.error) return [{ kind: "error", structured: extractStructuredError(d), text: d.error?.message ?? "stream error" }];
      return [{ kind: "passthrough", chunk: d }];
    case "google-generative-ai": {
      if (d?.error) return [{ kind: "error", structured: extractStructuredError(d), text: d.error?.message ?? "stream error" }];
      const cand = d?.candidates?.[0];
      const out: StreamEvent[] = [];
      const text = (cand?.content?.parts ?? []).map((p: any) => (typeof p?.text === "string" ? p.text : "")).join("");
      if (text) out.push({ kind: "content", text });
      if (cand?.finishReason) {
        const u = d.usageMetadata;
        out.push({ kind: "finish", finishReason: GOOGLE_FINISH[cand.finishReason] ?? "stop", usage: usage(u?.promptTokenCount, u?.candidatesTokenCount, u?.totalTokenCount) });
        out.push({ kind: "done" });
      }
      return out;
    }
    case "openai-responses":
      if (type === "response.output_text.delta") return [{ kind: "content", text: String(d.delta ?? "") }];
      if (type === "response.completed") {
        const r = d.response ?? {};
        return [{ kind: "finish", finishReason: "stop", usage: usage(r.usage?.input_tokens, r.usage?.output_tokens) }, { kind: "done" }];
      }
      if (type === "response.failed" || type === "error") {
        const err = d.response?.error ?? d.error ?? d;
        return [{ kind: "error", structured: extractStructuredError({ error: err }), text: err?.message ?? "stream error" }];
      }
      return [];
  }
}
