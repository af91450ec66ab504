import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyReply } from "fastify";
import { z } from "zod";
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
  // Documented in OpenAPI like every route, under their own tag; they need no key.
  const page = (summary: string) => ({ summary, tags: ["web"] });

  app.get("/", { schema: page("Redirects to the admin dashboard") }, (_request, reply) =>
    reply.redirect("/admin/"),
  );
  const assetParams = z.object({ file: z.string().max(200) });
  app.get(
    "/assets/:file",
    { schema: { ...page("Built JS/CSS of the web apps (hashed names)"), params: assetParams } },
    (request, reply) =>
      reply
        .header("x-content-type-options", "nosniff")
        .sendFile(join("assets", request.params.file), { immutable: true, maxAge: "365d" }),
  );
  // Client routes are at most two segments deep (/admin/members/mbr_…, /app/prg_…): explicit
  // parameters instead of a wildcard keep every route a plain path in the OpenAPI document.
  const segment = z.string().max(200);
  const oneParams = z.object({ first: segment });
  const twoParams = z.object({ first: segment, second: segment });
  for (const name of webApps) {
    const index = (reply: FastifyReply) =>
      pageHeaders(reply).header("cache-control", "no-cache").sendFile(join(name, "index.html"));
    const summary = `The ${name} web app: a file of it, else its index.html (client-side routes)`;
    app.get(`/${name}`, { schema: page(`Redirects to /${name}/`) }, (_request, reply) =>
      reply.redirect(`/${name}/`),
    );
    app.get(`/${name}/`, { schema: page(summary) }, (_request, reply) => index(reply));
    app.get(
      `/${name}/:first`,
      { schema: { ...page(summary), params: oneParams } },
      (request, reply) => {
        const { first } = request.params;
        // A name with an extension is a file (manifest, service worker, icon); others are pages.
        if (!/\.[a-z0-9]+$/i.test(first)) return index(reply);
        return pageHeaders(reply)
          .header("cache-control", "no-cache")
          .sendFile(join(name, first), { dotfiles: "deny" });
      },
    );
    app.get(
      `/${name}/:first/:second`,
      { schema: { ...page(summary), params: twoParams } },
      (_request, reply) => index(reply),
    );
  }
}
