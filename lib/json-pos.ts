/**
 * Position of the first syntax error in a JSON text. Bun's `JSON.parse` errors carry no position (spec README,
 * "Library pitfalls"), and the store's error message must name line and column (03 §2).
 */

export interface JsonSyntaxError {
  reason: string;
  /** 1-based */
  line: number;
  /** 1-based, in UTF-16 code units */
  column: number;
}

/**
 * Scan `text` as strict JSON (RFC 8259).
 * @returns the first error with its 1-based line/column, or undefined when the text is valid JSON
 */
export function findJsonError(text: string): JsonSyntaxError | undefined {
  let i = 0;
  const n = text.length;
  class Stop extends Error {
    constructor(readonly at: number, readonly reason: string) {
      super(reason);
    }
  }
  const fail = (reason: string, at = i): never => {
    throw new Stop(at, reason);
  };
  const ws = () => {
    while (i < n && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
  };
  const unexpected = (): never =>
    i >= n ? fail("Unexpected end of JSON input") : fail(`Unexpected token ${JSON.stringify(text[i])}`);
  const literal = (word: string) => {
    for (let k = 0; k < word.length; k++) if (text[i + k] !== word[k]) fail(`Unexpected token ${JSON.stringify(text[i + k] ?? "")}`, i + k);
    i += word.length;
  };
  const str = () => {
    i++; // opening quote
    while (true) {
      if (i >= n) fail("Unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) fail("Bad control character in string literal");
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail("Bad Unicode escape", i + 1);
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else fail("Bad escaped character", i + 1);
      } else i++;
    }
  };
  const num = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) return unexpected();
    i += m[0].length;
  };
  // Iterative over containers so that deeply nested input cannot overflow the stack.
  const stack: Array<"{" | "["> = [];
  const value = () => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      ws();
      if (text[i] === "}") {
        i++;
        return;
      }
      stack.push("{");
      key();
      return "open";
    }
    if (c === "[") {
      i++;
      ws();
      if (text[i] === "]") {
        i++;
        return;
      }
      stack.push("[");
      return "open";
    }
    if (c === '"') return str();
    if (c === "t") return literal("true");
    if (c === "f") return literal("false");
    if (c === "n") return literal("null");
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return num();
    return unexpected();
  };
  const key = () => {
    ws();
    if (text[i] !== '"') fail(i >= n ? "Unexpected end of JSON input" : "Expected property name");
    str();
    ws();
    if (text[i] !== ":") fail(i >= n ? "Unexpected end of JSON input" : "Expected ':' after property name");
    i++;
  };
  try {
    if (value() === "open") {
      while (stack.length > 0) {
        if (value() === "open") continue;
        // after a value inside a container
        while (stack.length > 0) {
          ws();
          const top = stack[stack.length - 1];
          const close = top === "{" ? "}" : "]";
          if (text[i] === ",") {
            i++;
            if (top === "{") key();
            break;
          }
          if (text[i] === close) {
            i++;
            stack.pop();
            continue;
          }
          fail(i >= n ? "Unexpected end of JSON input" : `Expected ',' or '${close}'`);
        }
      }
    }
    ws();
    if (i < n) fail("Unexpected non-whitespace character after JSON");
    return undefined;
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
    return { reason: e.reason, ...lineColumn(text, e.at) };
  }
}

/** 1-based line and column of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lastBreak = -1;
  for (let k = 0; k < offset && k < text.length; k++) {
    if (text[k] === "\n") {
      line++;
      lastBreak = k;
    }
  }
  return { line, column: offset - lastBreak };
}
