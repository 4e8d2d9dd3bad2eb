/**
 * Output channels (spec README "Cross-cutting rules", D25): data on stdout, logs on stderr through consola with a
 * reporter that redacts every line (02 §6). `--json` documents are printed with `printJson`.
 */
// consola/core: the full entry imports node:util's formatter eagerly (tens of ms in a one-shot CLI); the prompt
// implementation is loaded only when a prompt is shown.
import { createConsola, type LogObject } from "consola/core";
import { redact } from "./mask.ts";

export type LogLevelName = "silent" | "error" | "warn" | "info" | "debug";

const LEVELS: Record<LogLevelName, number> = { silent: -999, error: 0, warn: 1, info: 3, debug: 4 };

const PREFIX: Partial<Record<string, string>> = { warn: "warning: ", error: "error: ", fatal: "error: " };

/** The process logger: every level goes to stderr, redacted, one plain line per message (no icons, no colours). */
export const log = createConsola({
  level: LEVELS.info,
  // consola folds repeated identical lines by default; the gateway logs one line per request, always.
  throttle: 0,
  stdout: process.stderr,
  stderr: process.stderr,
  prompt: (async (message: string, opts: unknown) => {
    const { consola } = await import("consola");
    return consola.prompt(message, opts as never);
  }) as never,
  reporters: [
    {
      log: (obj: LogObject) => {
        const text = (obj.args as unknown[]).map(formatArg).join(" ");
        process.stderr.write(redact(`${PREFIX[obj.type] ?? ""}${text}`) + "\n");
      },
    },
  ],
});

// Plain formatting of log arguments: node:util's formatter costs tens of ms to load in a one-shot CLI.
function formatArg(a: unknown): string {
  if (typeof a === "string") return a;
  if (a instanceof Error) return a.message;
  try {
    return JSON.stringify(a) ?? String(a);
  } catch {
    return String(a);
  }
}

/**
 * An info line straight to stderr (redacted, subject to `--log-level`) without consola's per-call machinery: the
 * gateway writes one per request, where consola's log-object handling is a measurable share of the request cost.
 */
export function logInfoLine(text: string): void {
  if (log.level >= LEVELS.info) process.stderr.write(redact(text) + "\n");
}

/** Apply `--log-level`. */
export function setLogLevel(name: LogLevelName): void {
  log.level = LEVELS[name];
}

/** True for a valid `--log-level` value. */
export function isLogLevel(v: string): v is LogLevelName {
  return Object.hasOwn(LEVELS, v);
}

/** One line of data on stdout (redacted). */
export function printLine(text = ""): void {
  process.stdout.write(redact(text) + "\n");
}

/** The one `--json` document: 2-space indent, trailing newline (redacted as a safety net). */
export function printJson(doc: unknown): void {
  process.stdout.write(redact(JSON.stringify(doc, null, 2)) + "\n");
}
