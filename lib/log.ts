/**
 * Output channels (spec README "Cross-cutting rules", D25): data on stdout, logs on stderr through consola with a
 * reporter that redacts every line (02 §6). `--json` documents are printed with `printJson`.
 */
import { createConsola, type LogObject } from "consola";
import { formatWithOptions } from "node:util";
import { redact } from "./mask.ts";

export type LogLevelName = "silent" | "error" | "warn" | "info" | "debug";

const LEVELS: Record<LogLevelName, number> = { silent: -999, error: 0, warn: 1, info: 3, debug: 4 };

const PREFIX: Partial<Record<string, string>> = { warn: "warning: ", error: "error: ", fatal: "error: " };

/** The process logger: every level goes to stderr, redacted, one plain line per message (no icons, no colours). */
export const log = createConsola({
  level: LEVELS.info,
  stdout: process.stderr,
  stderr: process.stderr,
  reporters: [
    {
      log: (obj: LogObject) => {
        const text = formatWithOptions({ colors: false }, ...(obj.args as unknown[]));
        process.stderr.write(redact(`${PREFIX[obj.type] ?? ""}${text}`) + "\n");
      },
    },
  ],
});

/** Apply `--log-level`. */
export function setLogLevel(name: LogLevelName): void {
  log.level = LEVELS[name];
}

/** True for a valid `--log-level` value. */
export function isLogLevel(v: string): v is LogLevelName {
  return v in LEVELS;
}

/** One line of data on stdout (redacted). */
export function printLine(text = ""): void {
  process.stdout.write(redact(text) + "\n");
}

/** The one `--json` document: 2-space indent, trailing newline (redacted as a safety net). */
export function printJson(doc: unknown): void {
  process.stdout.write(redact(JSON.stringify(doc, null, 2)) + "\n");
}
