import { isIP } from "node:net";
import { z } from "zod";
import { leaseMs } from "./modules/idempotency/index.ts";

/** proxy-addr's names for address ranges, accepted in SETIA_TRUST_PROXY lists. */
const proxyRangeNames = new Set(["loopback", "linklocal", "uniquelocal"]);

function isAddressOrRange(entry: string): boolean {
  if (proxyRangeNames.has(entry)) return true;
  const [address = "", bits, ...rest] = entry.split("/");
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

/** Fastify's trustProxy: false, true, a hop count, or the proxies' addresses and ranges. */
const trustProxySchema = z
  .string()
  .default("false")
  .transform((value) => value.trim())
  .pipe(
    z.union([
      z.enum(["", "false"]).transform(() => false),
      z.literal("true").transform(() => true),
      z
        .string()
        .regex(/^\d+$/)
        .transform((hops) => Number(hops)),
      z
        .string()
        .transform((list) => list.split(",").map((entry) => entry.trim()))
        .refine((entries) => entries.every(isAddressOrRange), {
          message: "SETIA_TRUST_PROXY: true, a hop count, or IP addresses and CIDR ranges",
        }),
    ]),
  );

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default("0.0.0.0"),
  DATABASE_URL: z.string().optional(),
  SETIA_DATA_DIR: z.string().default("./data/setia"),
  SETIA_DB_POOL_MAX: z.coerce.number().int().min(1).max(200).default(20),
  SETIA_JOBS_INTERVAL_MS: z.coerce.number().int().min(0).default(60_000),
  /** Where the background loops run: auto (child process on PostgreSQL, inline on PGlite). */
  SETIA_WORKERS: z.enum(["auto", "inline", "process", "off"]).default("auto"),
  SETIA_IDEMPOTENCY_LEASE_MS: z.coerce.number().int().min(1).default(leaseMs),
  /** Webhook worker period; 0 leaves webhooks to the scheduler or `setia jobs run-once`. */
  SETIA_WEBHOOKS_INTERVAL_MS: z.coerce.number().int().min(0).default(1_000),
  SETIA_WEBHOOKS_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  /** true lets webhooks reach private, loopback and link-local addresses (closed networks only). */
  SETIA_WEBHOOKS_ALLOW_PRIVATE: z
    .enum(["true", "false"])
    .default("false")
    .transform((value) => value === "true"),
  /** Comma-separated hosts, IP addresses or CIDR ranges webhooks may reach even when private. */
  SETIA_WEBHOOKS_ALLOWED_HOSTS: z
    .string()
    .default("")
    .transform((value) =>
      value
        .split(",")
        .map((entry) => entry.trim())
        .filter(Boolean),
    ),
  /** Requests per minute per API key; 0 turns the limit off. */
  SETIA_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(600_000),
  /** Requests per minute per client address without a (valid) API key; 0 turns it off. */
  SETIA_RATE_LIMIT_IP_PER_MINUTE: z.coerce.number().int().min(0).default(1_200),
  /**
   * Proxies whose X-Forwarded-For and X-Forwarded-Proto are believed, so lockouts and rate
   * limits key on the client behind a load balancer: "true", a hop count, or comma-separated
   * addresses and CIDR ranges of the proxies. Unset: none (the header is ignored).
   */
  SETIA_TRUST_PROXY: trustProxySchema,
  /** Members' data keys, "k2:base64,k1:base64": the first encrypts, all decrypt (docs/privacy.md). */
  SETIA_DATA_KEYS: z.string().optional(),
  /** Key of the blind indexes that look members up by phone and email (base64, 32 bytes). */
  SETIA_INDEX_KEY: z.string().optional(),
  /** Email: smtp://user:pass@host:587 (or smtps://); unset, email messages fail as not configured. */
  SETIA_SMTP_URL: z.string().optional(),
  /** From address when a program sets none, e.g. "Setia <no-reply@example.com>". */
  SETIA_SMTP_FROM: z.string().optional(),
  /** Base URL members reach this server at, for unsubscribe links. */
  SETIA_PUBLIC_URL: z.string().default("http://localhost:8080"),
  /** SMS/WhatsApp gateway that takes the signed JSON of docs/communications.md, and its secret. */
  SETIA_MESSAGING_PROVIDER_URL: z.string().optional(),
  SETIA_MESSAGING_PROVIDER_SECRET: z.string().optional(),
  /** Web push VAPID keys (base64url); when unset a pair is generated once and kept in the database. */
  SETIA_VAPID_PUBLIC_KEY: z.string().optional(),
  SETIA_VAPID_PRIVATE_KEY: z.string().optional(),
  SETIA_VAPID_SUBJECT: z.string().optional(),
  /** Message worker period (new events, due messages); sign-in codes wake it. 0: the scheduler. */
  SETIA_MESSAGES_INTERVAL_MS: z.coerce.number().int().min(0).default(5_000),
  /** Ed25519 private key (PKCS#8 PEM or its DER in base64) that signs audit checkpoints. */
  SETIA_AUDIT_SIGNING_KEY: z.string().optional(),
  /** Audit chainer period; 0 leaves chaining to the scheduler or `setia jobs run-once`. */
  SETIA_AUDIT_CHAIN_INTERVAL_MS: z.coerce.number().int().min(0).default(2_000),
  SETIA_AUDIT_CHECKPOINT_INTERVAL_MS: z.coerce.number().int().min(1_000).default(600_000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export type Config = z.infer<typeof envSchema>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return envSchema.parse(env);
}
