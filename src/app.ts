import pino, { type Logger } from "pino";
import type { Config } from "./config.ts";
import type { Ctx } from "./context.ts";
import { openDb } from "./db/client.ts";
import { migrate } from "./db/migrate.ts";
import { buildServer } from "./http/server.ts";
import { spawnWorkerProcess, startLoops, workersMode } from "./jobs/workers.ts";
import { type Clock, systemClock } from "./lib/clock.ts";
import { resolveSigningKey } from "./modules/audit/index.ts";
import { countApiKeys, createApiKey } from "./modules/auth/index.ts";
import { communicationsConfig } from "./modules/communications/index.ts";
import { reindexMembers } from "./modules/members/index.ts";
import { encryptLegacyMembers, installKeyring, resolveKeyring } from "./modules/privacy/index.ts";
import { encryptLegacyTotpSecrets } from "./modules/staff/index.ts";

/** Opens the database named by the configuration and brings its schema up to date. */
export async function openContext(
  config: Config,
  options: { log?: Logger; clock?: Clock } = {},
): Promise<Ctx> {
  const log = options.log ?? pino({ level: config.LOG_LEVEL });
  // Keys first: PostgreSQL without configured keys refuses to start before connecting.
  installKeyring(resolveKeyring(config, log));
  const db = await openDb({
    ...(config.DATABASE_URL !== undefined && { databaseUrl: config.DATABASE_URL }),
    dataDir: config.SETIA_DATA_DIR,
    poolSizeMax: config.SETIA_DB_POOL_MAX,
  });
  const applied = await migrate(db);
  if (applied.length > 0)
    log.info({ migrations: applied.map((m) => m.version) }, "database migrated");
  const encrypted = await encryptLegacyMembers(db);
  if (encrypted > 0) log.info({ members: encrypted }, "members' personal data encrypted");
  // Name tokens and birthday indexes of members written before migration 015 or under another
  // index key: the key is not in the database, so the migration could not compute them.
  const { reindexed } = await reindexMembers(db);
  if (reindexed > 0) log.info({ members: reindexed }, "members' search indexes rebuilt");
  const secrets = await encryptLegacyTotpSecrets(db);
  if (secrets > 0) log.info({ staff: secrets }, "staff TOTP secrets encrypted");
  return {
    db,
    clock: options.clock ?? systemClock,
    log,
    idempotencyLeaseMs: config.SETIA_IDEMPOTENCY_LEASE_MS,
    webhooks: {
      allowPrivate: config.SETIA_WEBHOOKS_ALLOW_PRIVATE,
      allowedHosts: config.SETIA_WEBHOOKS_ALLOWED_HOSTS,
      timeoutMs: config.SETIA_WEBHOOKS_TIMEOUT_MS,
    },
    trustProxy: config.SETIA_TRUST_PROXY,
    rateLimits: {
      keyPerMinute: config.SETIA_RATE_LIMIT_PER_MINUTE,
      ipPerMinute: config.SETIA_RATE_LIMIT_IP_PER_MINUTE,
    },
    communications: communicationsConfig(config),
    audit: {
      signingKey: resolveSigningKey(config, log),
      checkpointIntervalMs: config.SETIA_AUDIT_CHECKPOINT_INTERVAL_MS,
    },
  };
}

/** On an empty deployment, creates the owner key; returns its secret once, or null. */
export async function ensureOwnerKey(ctx: Ctx): Promise<string | null> {
  if ((await countApiKeys(ctx)) > 0) return null;
  const { secret } = await createApiKey(ctx, null, { name: "deployment owner", role: "owner" });
  return secret;
}

export async function startPlatform(
  config: Config,
): Promise<{ url: string; stop(): Promise<void> }> {
  const ctx = await openContext(config);
  const ownerSecret = await ensureOwnerKey(ctx);
  const app = await buildServer(ctx);
  const mode = workersMode(config);
  // Background work starts once the port is ours: a failed listen leaves no loop or child behind.
  const address = await app.listen({ port: config.PORT, host: config.HOST });
  const workers =
    mode === "inline"
      ? startLoops(ctx, config)
      : mode === "process"
        ? spawnWorkerProcess(ctx)
        : null;
  if (ownerSecret) {
    // Printed once and never stored in clear: the operator must copy it now.
    process.stdout.write(
      `\n  Setia owner API key (shown once, keep it safe):\n\n    ${ownerSecret}\n\n  Try: curl -H "Authorization: Bearer ${ownerSecret}" ${address.replace("0.0.0.0", "localhost")}/v1/programs\n  Web: ${address.replace("0.0.0.0", "localhost")}/admin/ (staff), /pos/ (till), /app/<programId> (members)\n\n`,
    );
  }
  ctx.log.info({ address, database: ctx.db.driver, workers: mode }, "Setia is listening");
  let stopping: Promise<void> | null = null;
  return {
    url: address,
    stop() {
      stopping ??= (async () => {
        await app.close();
        await workers?.stop();
        await ctx.db.close();
      })();
      return stopping;
    },
  };
}
