// The `.env` upsert of spec 09 §2.2 as pure functions: quoting rules (read back exactly by dotenv.parse, 02 §1) and
// the line rules (first assignment replaced, later ones deleted, everything else byte-identical, append if absent).
import { describe, expect, test } from "bun:test";
import { formatDotenvValue, upsertDotenvText } from "../lib/dotenv-edit.ts";
import { parseDotenv } from "../lib/env.ts";

describe("formatDotenvValue", () => {
  test.each([
    ["sk-ant-api03-abc_DEF.123~+/=:@-x", "sk-ant-api03-abc_DEF.123~+/=:@-x"],
    ["has space", "'has space'"],
    ["hash#tag", "'hash#tag'"],
    ['dq"inside', `'dq"inside'`],
    ["back\\slash", "'back\\slash'"],
    ["$NOT_EXPANDED", "'$NOT_EXPANDED'"],
    ["it's", '"it\'s"'],
    ["it's #1", '"it\'s #1"'],
  ])("%p → %p, and dotenv reads it back exactly", (value, written) => {
    expect(formatDotenvValue("K", value)).toBe(written);
    expect(parseDotenv(`K=${written}\n`).K).toBe(value);
  });

  test.each([`it's "x"`, "it's \\x"])("%p is ambiguous", (value) => {
    expect(() => formatDotenvValue("K", value)).toThrow("K cannot be written to .env unambiguously; use --store profile.");
  });
});

describe("upsertDotenvText", () => {
  const rows: Array<[string, string | null, string]> = [
    ["no file → one line", null, "K=v\n"],
    ["empty file", "", "K=v\n"],
    ["append after a final newline", "A=1\n", "A=1\nK=v\n"],
    ["append to a file without a final newline", "A=1", "A=1\nK=v\n"],
    ["replace in place, other lines byte-identical", "# c\nA=1\nK=old\n\nB=2\n", "# c\nA=1\nK=v\n\nB=2\n"],
    ["export prefix and spaces around =", "  export K = old # note\nB=2\n", "K=v\nB=2\n"],
    ["later assignments deleted", "K=1\nA=1\nK=2\nexport K=3\n", "K=v\nA=1\n"],
    ["multi-line quoted value replaced whole", 'A=1\nK="line1\nline2"\nB=2\n', "A=1\nK=v\nB=2\n"],
    ["a K= inside another value's quotes is not an assignment", "A='x\nK=inner\n'\nB=2\n", "A='x\nK=inner\n'\nB=2\nK=v\n"],
    ["CRLF lines kept, replaced line keeps its CR", "A=1\r\nK=old\r\nB=2\r\n", "A=1\r\nK=v\r\nB=2\r\n"],
    ["appending to a CRLF file uses CRLF", "A=1\r\n", "A=1\r\nK=v\r\n"],
    ["BOM kept on a replaced first line", "\uFEFFK=old\nA=1\n", "\uFEFFK=v\nA=1\n"],
    ["a similar name is another variable", "KK=1\nK_2=2\n", "KK=1\nK_2=2\nK=v\n"],
    ["no trailing newline after the replaced last line stays that way", "A=1\nK=old", "A=1\nK=v"],
  ];
  test.each(rows)("%s", (_name, input, output) => {
    const r = upsertDotenvText(input, "K", "v");
    expect(r.text).toBe(output);
    expect(parseDotenv(r.text).K).toBe("v");
    expect(r.changed).toBe(output !== input);
  });

  test("unchanged text reports no change (the file is not rewritten)", () => {
    expect(upsertDotenvText("A=1\nK=v\n", "K", "v")).toEqual({ text: "A=1\nK=v\n", changed: false });
  });
});
