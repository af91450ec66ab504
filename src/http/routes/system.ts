import { sql } from "kysely";
import { z } from "zod";
import type { Ctx } from "../../context.ts";
import type { App } from "../kit.ts";

export function registerSystemRoutes(app: App, ctx: Ctx): void {
  app.get(
    "/health",
    {
      config: { access: "public" },
      schema: {
        summary: "Liveness and database reachability",
        tags: ["system"],
        response: {
          200: z.object({
            status: z.literal("ok"),
            database: z.enum(["pglite", "postgres"]),
            time: z.string(),
          }),
        },
      },
    },
    async () => {
      await sql`select 1`.execute(ctx.db.kysely);
      return {
        status: "ok" as const,
        database: ctx.db.driver,
        time: ctx.clock.now().toISOString(),
      };
    },
  );

  app.get("/openapi.json", { config: { access: "public" }, schema: { hide: true } }, async () =>
    app.swagger(),
  );
}
