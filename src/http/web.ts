import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyReply } from "fastify";
import type { Ctx } from "../context.ts";
import type { App } from "./kit.ts";

/** The three front ends built by `npm run build:web` (vite, web/) into dist/web/. */
export const webApps = ["admin", "app", "pos"] as const;
export const webRootDefault = fileURLToPath(new URL("../../dist/web/", import.meta.url));

// The UI loads scripts, styles and data only from this origin; images may be data: URLs (QR codes).
const contentSecurityPolicy = [
  "default-src 'self'",
  "img-src 'self' data: blob:",
  "style-src 'self'",
  "script-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "worker-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join("; ");

function pageHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header("content-security-policy", contentSecurityPolicy)
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "same-origin");
}

/**
 * Serves the built front ends: /admin/, /app/ and /pos/ each fall back to their index.html (the
 * apps route in the browser); hashed files under /assets/ are cached for a year. Without a build
 * the routes answer 404 and the server still runs (an API-only deployment).
 */
export async function registerWebRoutes(app: App, ctx: Ctx, root = webRootDefault): Promise<void> {
  if (!existsSync(join(root, "admin", "index.html"))) {
    ctx.log.warn({ root }, "web front ends not built (npm run build:web); serving the API only");
    return;
  }
  await app.register(fastifyStatic, { root, serve: false });
  const hide = { hide: true } as const;

  app.get("/", { schema: hide }, (_request, reply) => reply.redirect("/admin/"));
  app.get("/assets/*", { schema: hide }, (request, reply) => {
    const file = (request.params as { "*": string })["*"];
    return reply
      .header("x-content-type-options", "nosniff")
      .sendFile(join("assets", file), { immutable: true, maxAge: "365d" });
  });
  for (const name of webApps) {
    const index = (reply: FastifyReply) =>
      pageHeaders(reply).header("cache-control", "no-cache").sendFile(join(name, "index.html"));
    app.get(`/${name}`, { schema: hide }, (_request, reply) => reply.redirect(`/${name}/`));
    app.get(`/${name}/*`, { schema: hide }, (request, reply) => {
      const rest = (request.params as { "*": string })["*"];
      // A path with a file extension is a file (manifest, service worker, icon); others are pages.
      if (/\.[a-z0-9]+$/i.test(rest)) {
        return pageHeaders(reply)
          .header("cache-control", "no-cache")
          .sendFile(join(name, rest), { dotfiles: "deny" });
      }
      return index(reply);
    });
  }
}
