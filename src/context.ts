import type { Logger } from "pino";
import type { Db } from "./db/client.ts";
import type { Clock } from "./lib/clock.ts";

/** What every module operation needs from the outside world, passed explicitly. */
export interface Ctx {
  db: Db;
  clock: Clock;
  log: Logger;
  /** Idempotency lease; defaults to leaseMs. Crash-recovery tests shorten it to avoid waiting. */
  idempotencyLeaseMs?: number;
}
