import type { Logger } from "pino";
import type { Db } from "./db/client.ts";
import type { Clock } from "./lib/clock.ts";
import type { AuditSettings } from "./modules/audit/index.ts";
import type { CommunicationsConfig } from "./modules/communications/channels.ts";
import type { WebhookSettings } from "./modules/webhooks/index.ts";

/** What every module operation needs from the outside world, passed explicitly. */
export interface Ctx {
  db: Db;
  clock: Clock;
  log: Logger;
  /** Idempotency lease; defaults to leaseMs. Crash-recovery tests shorten it to avoid waiting. */
  idempotencyLeaseMs?: number;
  /** Outbound webhook settings; absent means the defaults (private addresses refused). */
  webhooks?: WebhookSettings;
  /** Fastify's trustProxy (SETIA_TRUST_PROXY); absent means no proxy is trusted. */
  trustProxy?: boolean | number | string[];
  /** Requests per minute per API key and per client address; absent or 0 means no limit. */
  rateLimits?: { keyPerMinute: number; ipPerMinute: number };
  /** Message channels (SMTP, SMS/WhatsApp provider, VAPID); absent means none configured. */
  communications?: CommunicationsConfig;
  /** Audit checkpoint signing; absent means checkpoints are not signed. */
  audit?: AuditSettings;
}
