// Builds the web front ends when dist/web is missing or older than the sources (a hash of web/
// and package-lock.json). Used by `npm start` (prestart), `npm test` (pretest) and the browser
// tests; a lock directory keeps concurrent callers from building twice at once.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("..", import.meta.url));
const web = join(repo, "web");
const out = join(repo, "dist", "web");
const stamp = join(out, ".source-hash");
const lock = join(repo, "dist", ".web-build.lock");

function files(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)],
    )
    .sort();
}

function sourceHash() {
  const hash = createHash("sha256");
  for (const file of [...files(web), join(repo, "package-lock.json")]) {
    hash.update(relative(repo, file)).update("\0").update(readFileSync(file)).update("\0");
  }
  return hash.digest("hex");
}

const fresh = (hash) => existsSync(stamp) && readFileSync(stamp, "utf8") === hash;

export async function ensureWebBuilt({ quiet = false } = {}) {
  const hash = sourceHash();
  if (fresh(hash)) return false;
  mkdirSync(join(repo, "dist"), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Another process builds; a lock older than 5 minutes is a crashed build's.
      if (Date.now() - statSync(lock, { throwIfNoEntry: false })?.mtimeMs > 300_000)
        rmSync(lock, { recursive: true, force: true });
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  try {
    if (fresh(hash)) return false;
    const vite = join(repo, "node_modules", "vite", "bin", "vite.js");
    if (!existsSync(vite)) {
      console.warn(
        "setia: vite is not installed (npm ci without dev dependencies?); the web UI is not built",
      );
      return false;
    }
    const result = spawnSync(
      process.execPath,
      [
        vite,
        "build",
        "--config",
        join(web, "vite.config.ts"),
        "--logLevel",
        quiet ? "error" : "warn",
      ],
      {
        cwd: repo,
        stdio: "inherit",
        // A test runner's NODE_ENV=test would otherwise give React's development build.
        env: { ...process.env, NODE_ENV: "production" },
      },
    );
    if (result.status !== 0) throw new Error(`web build failed (exit ${result.status})`);
    writeFileSync(stamp, hash);
    return true;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  ensureWebBuilt().then(
    (built) => built && console.log("setia: web front ends built into dist/web"),
    (error) => {
      console.error(error.message);
      process.exit(1);
    },
  );
}
