// argv handling cac does not do (spec README "Library pitfalls"): multi-word commands and raw option values.
import { describe, expect, test } from "bun:test";
import { joinCommandWords, rawOption, rawOptionValues, danglingValueOption } from "../lib/cli.ts";

const COMMANDS = ["models", "models status", "models auth list", "models auth order get", "models auth order set", "help [...command]", "gateway", "gateway run"];
const VALUE_OPTIONS = new Set(["profile", "agent", "provider", "warn-within", "log-level", "profile-id"]);

describe("joinCommandWords", () => {
  const rows: Array<[name: string, argv: string[], expected: string[]]> = [
    ["spec example: options between the words", ["--profile", "ci", "models", "auth", "--agent", "work", "list"], ["--profile", "ci", "models auth list", "--agent", "work"]],
    ["simple two words", ["models", "status", "--json"], ["models status", "--json"]],
    ["longest match wins", ["models", "auth", "order", "get", "--provider", "x"], ["models auth order get", "--provider", "x"]],
    ["single word command untouched", ["models", "--status-json"], ["models", "--status-json"]],
    ["an option value that equals a command word is skipped", ["--agent", "status", "models"], ["--agent", "status", "models"]],
    ["--opt=value form does not swallow the next word", ["--agent=work", "models", "status"], ["--agent=work", "models status"]],
    ["positional arguments after the command stay", ["models", "auth", "order", "set", "a:1", "a:2"], ["models auth order set", "a:1", "a:2"]],
    ["words after -- are not command words", ["models", "--", "status"], ["models", "--", "status"]],
    ["unknown words are left alone", ["modles", "status"], ["modles", "status"]],
    ["boolean flags do not take a value", ["--json", "models", "status"], ["--json", "models status"]],
    ["gateway run alias", ["gateway", "run", "--port", "1"], ["gateway run", "--port", "1"]],
  ];
  test.each(rows)("%s", (_name, argv, expected) => {
    expect(joinCommandWords(argv, COMMANDS.map((c) => c.replace(/ [[<].*$/, "")), VALUE_OPTIONS)).toEqual(expected);
  });
});

describe("rawOptionValues / rawOption", () => {
  const rows: Array<[name: string, argv: string[], names: string[], expected: string[]]> = [
    ["numeric-looking value stays a string", ["--profile-id", "007"], ["profile-id"], ["007"]],
    ["--name=value", ["--warn-within=48"], ["warn-within"], ["48"]],
    ["repeatable, in argv order", ["--probe-profile", "a", "--probe-profile=b,c"], ["probe-profile"], ["a", "b,c"]],
    ["stops at --", ["--agent", "x", "--", "--agent", "y"], ["agent"], ["x"]],
    ["aliases", ["-p", "1", "--profile", "2"], ["profile", "p"], ["1", "2"]],
    ["a following option is not a value", ["--agent", "--json"], ["agent"], []],
    ["empty value with =", ["--agent="], ["agent"], [""]],
    ["absent", ["models", "status"], ["agent"], []],
    ["value with = inside", ["--token=a=b"], ["token"], ["a=b"]],
  ];
  test.each(rows)("%s", (_name, argv, names, expected) => {
    expect(rawOptionValues(argv, names)).toEqual(expected);
  });

  test("rawOption returns the last value, or undefined", () => {
    expect(rawOption(["--agent", "a", "--agent", "b"], "agent")).toBe("b");
    expect(rawOption(["models"], "agent")).toBeUndefined();
  });
});

describe("danglingValueOption", () => {
  const values = new Set(["provider", "profile", "token"]);
  test.each([
    [["--profile"], "profile"],
    [["models", "status", "--profile"], "profile"],
    [["models", "auth", "list", "--provider="], "provider"],
    [["--provider=", "models"], "provider"],
    [["--profile", "--", "x"], "profile"],
    [["--provider=groq"], undefined],
    [["--token=abc="], undefined],
    [["--json"], undefined],
    [["--profile=ci", "models"], undefined],
  ])("%p → %p", (args, want) => {
    expect(danglingValueOption(args, values)).toBe(want);
  });
});
