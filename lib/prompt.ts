/**
 * Terminal input (spec 05 §0): the masked secret reader, stdin reading for pipes, yes/no questions.
 * Prompts run only when stdin and stdout are both TTYs; Ctrl+C cancels with exit 130 and nothing written.
 */
import { CancelledError, JarvisError } from "./errors.ts";
import { log } from "./log.ts";

/** Stdin and stdout are both terminals (05 §0 "TTY"). */
export function isInteractive(): boolean {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY);
}

const STDIN_LIMIT_BYTES = 65_536;

/**
 * Read stdin to EOF (at most 65 536 bytes).
 * @throws JarvisError stdin_too_large
 */
export async function readStdin(limit = STDIN_LIMIT_BYTES): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += b.length;
    if (size > limit) throw new JarvisError("stdin_too_large", `input on stdin is larger than ${limit} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString("utf8");
}

const PASTE_START = "\x1b[200~";
const PASTE_END = "\x1b[201~";
/** Without bracketed paste, a newline followed by more bytes within this many ms is part of a paste (05 §0). */
const PASTE_GAP_MS = 150;

/**
 * Pure state machine of the masked reader: feed it terminal bytes, it tells when input ends or is cancelled.
 * Enter outside a paste or Ctrl+D ends input; newlines inside a bracketed paste are kept; Backspace deletes;
 * Ctrl+C cancels.
 */
class MaskedInput {
  value = "";
  private inPaste = false;
  /** A newline outside a paste that may still turn out to be part of an unbracketed paste. */
  pendingNewline = false;

  /** @returns "more" (keep reading), "done", or "cancel" */
  feed(data: string): "more" | "done" | "cancel" {
    let i = 0;
    while (i < data.length) {
      if (data.startsWith(PASTE_START, i)) {
        this.inPaste = true;
        i += PASTE_START.length;
        continue;
      }
      if (data.startsWith(PASTE_END, i)) {
        this.inPaste = false;
        i += PASTE_END.length;
        continue;
      }
      const ch = data[i]!;
      i++;
      if (ch === "\x03") return "cancel";
      if (ch === "\x04") return "done";
      if (this.pendingNewline) {
        // More bytes right after a newline: it was a paste, keep the newline (the normaliser joins lines).
        this.value += "\n";
        this.pendingNewline = false;
      }
      if (ch === "\r" || ch === "\n") {
        if (this.inPaste) this.value += "\n";
        else this.pendingNewline = true;
        continue;
      }
      if (ch === "\x7f" || ch === "\b") {
        this.value = [...this.value].slice(0, -1).join("");
        continue;
      }
      if (ch === "\x1b") {
        // Skip other escape sequences (arrow keys) so they do not end up in the secret.
        const m = /^\[[0-9;?]*[A-Za-z~]/.exec(data.slice(i));
        if (m) i += m[0].length;
        continue;
      }
      this.value += ch;
    }
    return "more";
  }
}

/**
 * Ask for a secret on the terminal without echoing it; a `(<n> chars)` counter is redrawn on stderr.
 * @returns the raw input (the caller normalises it in paste mode)
 * @throws CancelledError on Ctrl+C (exit 130)
 */
export async function promptSecret(question: string): Promise<string> {
  const stdin = process.stdin;
  const err = process.stderr;
  const input = new MaskedInput();
  // Echo off before the question shows: a user (or a test) who types as soon as it appears is never echoed.
  stdin.setRawMode(true);
  process.stdout.write("\x1b[?2004h");
  err.write(`${question}: `);
  stdin.resume();
  stdin.setEncoding("utf8");
  const redraw = () => err.write(`\r\x1b[K${question}: (${[...input.value.replace(/\n/g, "")].length} chars)`);
  try {
    return await new Promise<string>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (outcome: "done" | "cancel") => {
        if (timer) clearTimeout(timer);
        stdin.off("data", onData);
        stdin.off("end", onEnd);
        if (outcome === "cancel") reject(new CancelledError());
        else resolve(input.value);
      };
      const onData = (chunk: string) => {
        if (timer) clearTimeout(timer);
        const r = input.feed(chunk);
        redraw();
        if (r !== "more") return finish(r);
        if (input.pendingNewline) timer = setTimeout(() => finish("done"), PASTE_GAP_MS);
      };
      // The terminal went away: end input like Ctrl+D (never hang, never exit 0 with nothing stored).
      const onEnd = () => finish("done");
      stdin.on("data", onData);
      stdin.on("end", onEnd);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stdout.write("\x1b[?2004l");
    err.write("\n");
  }
}

/**
 * Read one visible line in raw mode (typed characters echoed on stderr, Backspace deletes, Enter ends).
 * Raw mode rather than readline or consola's text prompt: those lose keystrokes when they follow another prompt on
 * the same stdin.
 * @param promptText shown on stderr before the input
 * @throws CancelledError on Ctrl+C, Ctrl+D or EOF (exit 130)
 */
async function readVisibleLine(promptText: string): Promise<string> {
  const stdin = process.stdin;
  stdin.setRawMode(true);
  process.stderr.write(promptText);
  stdin.resume();
  stdin.setEncoding("utf8");
  try {
    return await new Promise<string>((resolve, reject) => {
      let answer = "";
      const done = (f: () => void) => {
        stdin.off("data", onData);
        stdin.off("end", onEnd);
        f();
      };
      const onEnd = () => done(() => reject(new CancelledError()));
      const onData = (chunk: string) => {
        for (const ch of chunk) {
          if (ch === "\x03" || ch === "\x04") return done(() => reject(new CancelledError()));
          if (ch === "\r" || ch === "\n") return done(() => resolve(answer));
          if (ch === "\x7f" || ch === "\b") {
            if (answer) {
              answer = [...answer].slice(0, -1).join("");
              process.stderr.write("\b \b");
            }
          } else if (ch >= " ") {
            answer += ch;
            process.stderr.write(ch);
          }
        }
      };
      stdin.on("data", onData);
      stdin.on("end", onEnd);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write("\n");
  }
}

/**
 * Ask a yes/no question on the terminal (`[y/N]` or `[Y/n]` is part of `question`); Enter takes the default.
 * @throws CancelledError on Ctrl+C or EOF (exit 130)
 */
export async function confirm(question: string, defaultYes: boolean): Promise<boolean> {
  const a = (await readVisibleLine(`${question} `)).trim().toLowerCase();
  return a === "" ? defaultYes : a === "y" || a === "yes";
}

/**
 * Ask for a line of visible text (ids, durations) with a default shown in brackets; Enter on an empty line takes
 * the default.
 * @throws CancelledError on Ctrl+C or EOF (exit 130)
 */
export async function promptText(question: string, defaultValue = ""): Promise<string> {
  const answer = await readVisibleLine(defaultValue ? `${question} [${defaultValue}]: ` : `${question}: `);
  return answer.trim() || defaultValue;
}

/**
 * Pick one of `options` (consola select prompt, `cancel: "reject"`).
 * @throws CancelledError on Ctrl+C
 */
export async function promptSelect(question: string, options: string[]): Promise<string> {
  try {
    const answer = await log.prompt(question, { type: "select", options, cancel: "reject" });
    return String(answer);
  } catch {
    throw new CancelledError();
  }
}
