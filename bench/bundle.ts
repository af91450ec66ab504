// Gzip sizes of what each front end loads: the JS and CSS its index.html names (entry, shared
// chunks it preloads, styles). Builds first when the sources changed. Usage: npm run web:size
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { ensureWebBuilt } from "../web/ensure-built.mjs";

const root = fileURLToPath(new URL("../dist/web/", import.meta.url));
const apps = ["admin", "app", "pos"] as const;

export interface AppSize {
  app: string;
  jsBytes: number;
  jsGzipBytes: number;
  cssBytes: number;
  cssGzipBytes: number;
}

export function measureBundles(): AppSize[] {
  return apps.map((app) => {
    const html = readFileSync(join(root, app, "index.html"), "utf8");
    const files = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+\.(?:js|css))"/g)].map(
      (match) => match[1] as string,
    );
    const size = { app, jsBytes: 0, jsGzipBytes: 0, cssBytes: 0, cssGzipBytes: 0 };
    for (const file of new Set(files)) {
      const content = readFileSync(join(root, file));
      const gzip = gzipSync(content, { level: 9 }).length;
      if (file.endsWith(".js")) {
        size.jsBytes += content.length;
        size.jsGzipBytes += gzip;
      } else {
        size.cssBytes += content.length;
        size.cssGzipBytes += gzip;
      }
    }
    return size;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await ensureWebBuilt({ quiet: true });
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  console.log("| app | JS | JS gzip | CSS | CSS gzip |\n| --- | --- | --- | --- | --- |");
  for (const size of measureBundles()) {
    console.log(
      `| /${size.app}/ | ${kb(size.jsBytes)} | ${kb(size.jsGzipBytes)} | ${kb(size.cssBytes)} | ${kb(size.cssGzipBytes)} |`,
    );
  }
}
