/**
 * Errors as values with a stable code, a human message and the exit code they end the process with.
 * Raised once where the problem is found, rendered once at the CLI edge (main.ts).
 */

/** Exit codes of the product (spec README "Exit codes"). */
export const EXIT = { ok: 0, failure: 1, expiring: 2, usage: 64, cancelled: 130 } as const;

/**
 * A failure with a stable snake_case `code` (used as `error.code` in `--json` error documents),
 * a message that names the file / flag / profile id involved, and the process exit code.
 */
export class JarvisError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(code: string, message: string, exitCode: number = EXIT.failure) {
    super(message);
    this.name = "JarvisError";
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** Usage error (bad flag, missing argument, unknown agent): exit 64, never prints JSON. */
export class UsageError extends JarvisError {
  constructor(message: string) {
    super("usage", message, EXIT.usage);
    this.name = "UsageError";
  }
}

/** The user pressed Ctrl+C in a prompt: exit 130, nothing written. */
export class CancelledError extends JarvisError {
  constructor(message = "Cancelled.") {
    super("cancelled", message, EXIT.cancelled);
    this.name = "CancelledError";
  }
}

/** Narrowing helper for `catch (e)` blocks that need `e.code` of a Node/Bun system error. */
export function errnoCode(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "code" in e && typeof (e as { code: unknown }).code === "string"
    ? (e as { code: string }).code
    : undefined;
}
