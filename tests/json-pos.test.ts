// Position of the first JSON syntax error (spec 03 §2 needs line and column; Bun's JSON.parse gives none).
import { describe, expect, test } from "bun:test";
import { findJsonError, lineColumn } from "../lib/json-pos.ts";

describe("findJsonError", () => {
  const rows: Array<[name: string, text: string, line: number, column: number, reason: string]> = [
    ["empty file (0 bytes)", "", 1, 1, "Unexpected end of JSON input"],
    ["whitespace only", "  \n ", 2, 2, "Unexpected end of JSON input"],
    ["trailing comma in object", '{\n  "a": 1,\n}', 3, 1, "Expected property name"],
    ["missing comma", '{\n  "a": 1\n  "b": 2\n}', 3, 3, "Expected ',' or '}'"],
    ["unquoted key (JSON5 is not JSON)", "{ version: 1 }", 1, 3, "Expected property name"],
    ["single quotes", "{'a': 1}", 1, 2, "Expected property name"],
    ["truncated file", '{"profiles": {"a": {"type": "api_key"', 1, 38, "Unexpected end of JSON input"],
    ["bad literal", '{"a": tru}', 1, 10, 'Unexpected token "}"'],
    ["trailing garbage", '{"a": 1} x', 1, 10, "Unexpected non-whitespace character after JSON"],
    ["control character in string", '{"a": "x\ty"}', 1, 9, "Bad control character in string literal"],
    ["bad escape", '{"a": "\\q"}', 1, 9, "Bad escaped character"],
    ["unterminated string", '{"a": "abc', 1, 11, "Unterminated string"],
    ["CRLF lines count like LF", '{\r\n"a": 1,\r\n}', 3, 1, "Expected property name"],
    ["leading zero", "[01]", 1, 3, "Expected ',' or ']'"],
    ["missing colon", '{"a" 1}', 1, 6, "Expected ':' after property name"],
  ];
  test.each(rows)("%s", (_name, text, line, column, reason) => {
    expect(findJsonError(text)).toEqual({ reason, line, column });
  });

  // The scanner must agree with the real parser on what is valid JSON.
  const corpus = [
    "{}",
    "[]",
    "1",
    '"s"',
    "null",
    "true",
    "-0.5e+10",
    '{"a": [1, 2, {"b": null}], "c": "\\u00e9\\n"}',
    "  {\n}\n",
    '{"version":1,"profiles":{}}',
    "[1,]",
    "[,1]",
    "{,}",
    "01",
    "1.",
    ".1",
    "+1",
    "--1",
    '"\\u12"',
    "[[[[[]]]]]",
    "[[[[[]]]]",
    '{"a":1}}',
    "nul",
    "[true false]",
    '{"a":1,"a":2}',
    "\uFEFF{}",
    "[1e5]",
    "[1E-5]",
    "[1e]",
  ];
  test.each(corpus)("agrees with JSON.parse on %p", (text) => {
    let valid = true;
    try {
      JSON.parse(text);
    } catch {
      valid = false;
    }
    expect(findJsonError(text) === undefined).toBe(valid);
  });

  test("deep nesting does not overflow the stack", () => {
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    expect(findJsonError(deep)).toBeUndefined();
    expect(findJsonError(deep.slice(0, -1))).toMatchObject({ reason: "Unexpected end of JSON input", line: 1 });
  });
});

describe("lineColumn", () => {
  const rows: Array<[text: string, offset: number, line: number, column: number]> = [
    ["abc", 0, 1, 1],
    ["abc", 2, 1, 3],
    ["a\nbc", 2, 2, 1],
    ["a\nbc", 3, 2, 2],
    ["a\n\n", 3, 3, 1],
  ];
  test.each(rows)("%p at %p", (text, offset, line, column) => {
    expect(lineColumn(text, offset)).toEqual({ line, column });
  });
});
