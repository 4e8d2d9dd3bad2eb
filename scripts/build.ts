/**
 * Build the jarvis executable (spec 10 §3). `bun scripts/build.ts` → dist/jarvis for the host;
 * `bun scripts/build.ts --release` → every release target in dist/release/ plus SHA256SUMS.
 */
import { $ } from "bun";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import pkg from "../package.json" with { type: "json" };

const root = path.resolve(import.meta.dir, "..");

const RELEASE_TARGETS: Array<[target: string, file: string]> = [
  ["bun-linux-x64", "jarvis-linux-x64"],
  ["bun-linux-x64-baseline", "jarvis-linux-x64-baseline"],
  ["bun-linux-arm64", "jarvis-linux-arm64"],
  ["bun-linux-x64-musl", "jarvis-linux-x64-musl"],
  ["bun-linux-arm64-musl", "jarvis-linux-arm64-musl"],
  ["bun-linux-arm64-android", "jarvis-android-arm64"],
  ["bun-darwin-x64", "jarvis-darwin-x64"],
  ["bun-darwin-arm64", "jarvis-darwin-arm64"],
  ["bun-windows-x64", "jarvis-windows-x64.exe"],
];

function hostTarget(): string {
  const arch = process.arch === "arm64" ? "arm64" : "x64";
  const os = process.platform === "darwin" ? "darwin" : process.platform === "win32" ? "windows" : "linux";
  return `bun-${os}-${arch}`;
}

async function build(target: string, outfile: string, crossCompile: boolean): Promise<void> {
  const flags = [
    "build", "./main.ts", "--compile", "--minify", "--bytecode", "--format=esm", "--sourcemap",
    "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig",
    "--define", `JARVIS_VERSION=${JSON.stringify(pkg.version)}`,
    "--define", `JARVIS_TARGET=${JSON.stringify(target)}`,
    "--outfile", outfile,
  ];
  if (crossCompile) flags.splice(3, 0, `--target=${target}`);
  const res = await $`${process.execPath} ${flags}`.cwd(root).nothrow().quiet();
  if (res.exitCode !== 0) {
    process.stderr.write(res.stderr.toString() + res.stdout.toString());
    throw new Error(`build for ${target} failed (exit ${res.exitCode})`);
  }
}

if (process.argv.includes("--release")) {
  const dir = path.join(root, "dist", "release");
  fs.mkdirSync(dir, { recursive: true });
  const sums: string[] = [];
  for (const [target, file] of RELEASE_TARGETS) {
    const out = path.join(dir, file);
    await build(target, out, true);
    sums.push(`${createHash("sha256").update(fs.readFileSync(out)).digest("hex")}  ${file}`);
    console.log(`built ${file}`);
  }
  fs.writeFileSync(path.join(dir, "SHA256SUMS"), sums.sort((a, b) => a.split("  ")[1]!.localeCompare(b.split("  ")[1]!)).join("\n") + "\n");
} else {
  await build(hostTarget(), path.join(root, "dist", "jarvis"), false);
  console.log("built dist/jarvis");
}
