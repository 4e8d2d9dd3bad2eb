/**
 * The HTTP edge for provider calls: ofetch with its own retries off (`retry: 0`, `ignoreResponseError: true`; spec
 * README "Library pitfalls"), jarvis's own timeout, and transport errors turned into codes the classifier knows.
 */
import { ofetch } from "ofetch";
import type { ProviderRequest } from "./adapters.ts";

export type HttpOutcome =
  | { ok: true; status: number; headers: Headers; text: string }
  | { ok: false; transport: string; message: string };

export type HttpStreamOutcome =
  | { ok: true; status: number; headers: Headers; body: ReadableStream<Uint8Array> }
  | { ok: false; transport: string; message: string };

function transportCode(e: unknown, timedOut: boolean): { transport: string; message: string } {
  if (timedOut) return { transport: "TIMEOUT", message: "request timed out" };
  let cur: any = e;
  for (let depth = 0; cur && depth < 4; depth++) {
    if (typeof cur.code === "string" && cur.code) return { transport: cur.code, message: `network error (${cur.code})` };
    cur = cur.cause;
  }
  return { transport: "SOCKET_CLOSED", message: `network error (${e instanceof Error ? e.name : "unknown"})` };
}

/**
 * One POST through ofetch with jarvis's timeout: resolves when the response headers arrived (the body is read by
 * `responseType`), or with the transport error (`TIMEOUT` when our timer fired).
 */
async function post<T extends "text" | "stream">(req: ProviderRequest, timeoutMs: number, responseType: T) {
  const ctl = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ctl.abort();
  }, timeoutMs);
  try {
    const res = await ofetch.raw(req.url, {
      method: "POST",
      headers: req.headers,
      body: req.body,
      retry: 0,
      ignoreResponseError: true,
      responseType,
      signal: ctl.signal,
    });
    return { ok: true as const, res };
  } catch (e) {
    return { ok: false as const, ...transportCode(e, timedOut) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * POST a provider request and read the whole body.
 * @param timeoutMs overall timeout (ms); on expiry the outcome is transport `TIMEOUT`
 */
export async function postText(req: ProviderRequest, timeoutMs: number): Promise<HttpOutcome> {
  const r = await post(req, timeoutMs, "text");
  if (!r.ok) return r;
  return { ok: true, status: r.res.status, headers: r.res.headers, text: typeof r.res._data === "string" ? r.res._data : "" };
}

/**
 * POST a provider request and return the response stream once headers arrived (first-byte timeout `timeoutMs`).
 * The caller enforces the stream idle timeout and must cancel the body when it stops reading.
 */
export async function postStream(req: ProviderRequest, timeoutMs: number): Promise<HttpStreamOutcome> {
  const r = await post(req, timeoutMs, "stream");
  if (!r.ok) return r;
  return { ok: true, status: r.res.status, headers: r.res.headers, body: r.res._data as ReadableStream<Uint8Array> };
}
