import { createWriteStream, readFileSync } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Command, InvalidArgumentError } from "commander";
import { openContext, startPlatform } from "../app.ts";
import { loadConfig } from "../config.ts";
import { migrate } from "../db/migrate.ts";
import { runJobsOnce } from "../jobs/index.ts";
import { listenToParent, pgliteOneProcess, startLoops } from "../jobs/workers.ts";
import { chainPending, exportAudit, publicKeyOf, verifyAudit } from "../modules/audit/index.ts";
import { createApiKey, listApiKeys, revokeApiKey } from "../modules/auth/index.ts";
import { verifyLedger } from "../modules/ledger/index.ts";
import { reindexBatchMax, reindexMembers } from "../modules/members/index.ts";
import {
  allErasures,
  erasureLogSchema,
  reapplyErasures,
  rotateKeys,
  rotationBatchSizeMax,
} from "../modules/privacy/index.ts";
import { getProgram } from "../modules/programs/index.ts";
import { createInvitation } from "../modules/staff/index.ts";
import { seedDemo } from "./seed.ts";

const program = new Command("setia")
  .description("Setia retail loyalty platform")
  .showHelpAfterError();

/** Runs fn with an open database and closes it afterwards, whatever happens. */
async function withCtx<T>(
  fn: (ctx: Awaited<ReturnType<typeof openContext>>) => Promise<T>,
): Promise<T> {
  const ctx = await openContext(loadConfig({ LOG_LEVEL: "warn", ...process.env }));
  try {
    return await fn(ctx);
  } finally {
    await ctx.db.close();
  }
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

program
  .command("start", { isDefault: true })
  .description(
    "run the API server and the job scheduler (PGlite in SETIA_DATA_DIR, or DATABASE_URL)",
  )
  .action(async () => {
    const platform = await startPlatform(loadConfig());
    const shutdown = () => {
      platform.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once("SIGINT", shutdown);
    process.once("SIGTERM", shutdown);
  });

program
  .command("worker")
  .description(
    "run only the background loops (jobs, webhooks, messages, audit chain); API processes then run with SETIA_WORKERS=off",
  )
  .action(async () => {
    const config = loadConfig();
    if (config.DATABASE_URL === undefined) throw new Error(pgliteOneProcess);
    const ctx = await openContext(config);
    const loops = startLoops(ctx, config);
    ctx.log.info({ database: ctx.db.driver }, "Setia worker running");
    let stopping = false;
    const shutdown = () => {
      if (stopping) return;
      stopping = true;
      loops
        .stop()
        .then(() => ctx.db.close())
        .then(
          () => process.exit(0),
          () => process.exit(1),
        );
    };
    process.once("SIGINT", shutdown);
    process.once("SIGTERM", shutdown);
    listenToParent(shutdown);
  });

program
  .command("migrate")
  .description("apply pending database migrations")
  .action(() =>
    withCtx(async (ctx) => {
      await migrate(ctx.db);
      print({ ok: true, database: ctx.db.driver });
    }),
  );

const keys = program.command("keys").description("manage API keys");
keys
  .command("create")
  .requiredOption("--program <id>", "program id")
  .requiredOption("--role <role>", "admin, pos or read", (value) => {
    if (!["admin", "pos", "read"].includes(value))
      throw new InvalidArgumentError("admin, pos or read");
    return value as "admin" | "pos" | "read";
  })
  .option("--name <name>", "what the key is for", "cli")
  .description("create a key; its secret is printed once")
  .action((options: { program: string; role: "admin" | "pos" | "read"; name: string }) =>
    withCtx(async (ctx) => {
      await getProgram(ctx.db.kysely, options.program);
      print(await createApiKey(ctx, options.program, { name: options.name, role: options.role }));
    }),
  );
keys
  .command("list")
  .option("--program <id>", "program id (omit for deployment keys)")
  .action((options: { program?: string }) =>
    withCtx(async (ctx) => print(await listApiKeys(ctx, options.program ?? null))),
  );
keys
  .command("revoke <keyId>")
  .action((keyId: string) => withCtx(async (ctx) => print(await revokeApiKey(ctx, null, keyId))));

program
  .command("staff")
  .description("staff accounts")
  .command("create-owner")
  .requiredOption("--email <email>", "the owner's email")
  .description(
    "invite a deployment owner; prints the one-time link (also emailed when SMTP is set)",
  )
  .action((options: { email: string }) =>
    withCtx(async (ctx) =>
      print(
        await createInvitation(ctx, {
          programId: "",
          email: options.email,
          role: "owner",
          storeIds: [],
          invitedBy: "cli",
        }),
      ),
    ),
  );

program
  .command("ledger")
  .description("ledger tools")
  .command("verify")
  .option("--program <id>", "only this program")
  .description("check every ledger invariant against the journal; exits 1 on a problem")
  .action((options: { program?: string }) =>
    withCtx(async (ctx) => {
      const report = await verifyLedger(ctx.db.kysely, options.program);
      print(report);
      if (!report.ok) process.exitCode = 1;
    }),
  );

const audit = program.command("audit").description("tamper-evident audit log (docs/audit.md)");
audit
  .command("verify")
  .description(
    "chain what is pending, then check the chain against the live rows; exits 1 on a problem",
  )
  .action(() =>
    withCtx(async (ctx) => {
      await chainPending(ctx);
      const signingKey = ctx.audit?.signingKey ?? null;
      const report = await verifyAudit(ctx.db.kysely, {
        trustedPublicKey: signingKey ? publicKeyOf(signingKey) : null,
      });
      print(report);
      if (!report.ok) process.exitCode = 1;
    }),
  );
audit
  .command("export")
  .requiredOption("--out <file>", "JSON Lines file to write")
  .description("write the chain, its content and signed checkpoints for a third party")
  .action((options: { out: string }) =>
    withCtx(async (ctx) => {
      await chainPending(ctx);
      await pipeline(Readable.from(exportAudit(ctx)), createWriteStream(options.out));
      print({ ok: true, out: options.out });
    }),
  );

program
  .command("jobs")
  .description("scheduled work")
  .command("run-once")
  .description(
    "release pending points, expire lots and holds, purge old idempotency keys, send due webhooks and member messages (for cron)",
  )
  .action(() => withCtx(async (ctx) => print(await runJobsOnce(ctx))));

program
  .command("seed")
  .description("load data")
  .requiredOption("--demo", "a demo program with members and a year of purchases")
  .option("--members <n>", "members to enrol", wholeNumber, 3000)
  .option("--seed <n>", "random seed (same seed, same data)", wholeNumber, 42)
  .action((options: { members: number; seed: number }) =>
    withCtx(async (ctx) => {
      const summary = await seedDemo(ctx, {
        members: options.members,
        seed: options.seed,
        // Progress goes to stderr so stdout stays one JSON document.
        onProgress: ({ day, days, purchases }) => {
          if (day % 30 === 0 || day === days) {
            process.stderr.write(`seed: day ${day}/${days}, ${purchases} purchases\n`);
          }
        },
      });
      print(summary);
    }),
  );

const privacy = program.command("privacy").description("members' personal data");
privacy
  .command("rotate")
  .description("re-encrypt members' data under the first key of SETIA_DATA_KEYS")
  .option("--batch <n>", "rows per transaction", wholeNumber, rotationBatchSizeMax)
  .action((options: { batch: number }) =>
    withCtx(async (ctx) => print(await rotateKeys(ctx.db, Math.max(1, options.batch)))),
  );
privacy
  .command("reindex")
  .description(
    "rebuild members' blind indexes and name tokens not built with the current SETIA_INDEX_KEY (also done at every start)",
  )
  .option("--batch <n>", "rows per transaction", wholeNumber, reindexBatchMax)
  .action((options: { batch: number }) =>
    withCtx(async (ctx) => print(await reindexMembers(ctx.db, Math.max(1, options.batch)))),
  );
privacy
  .command("erasures")
  .description("print the erasure log (no personal data); keep a copy outside database backups")
  .option("--program <id>", "only this program")
  .action((options: { program?: string }) =>
    withCtx(async (ctx) => print(await allErasures(ctx.db.kysely, options.program))),
  );
privacy
  .command("reapply-erasures")
  .description("after a restore: erase again every member in the erasure log who is not erased")
  .option("--file <path>", "a saved log from `setia privacy erasures`, applied with the database's")
  .action((options: { file?: string }) =>
    withCtx(async (ctx) => {
      const saved =
        options.file === undefined
          ? []
          : erasureLogSchema.parse(JSON.parse(readFileSync(options.file, "utf8")));
      print(await reapplyErasures(ctx.db, ctx.clock.now(), saved));
    }),
  );

function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError("a whole number");
  return Number(value);
}

await program.parseAsync(process.argv);
