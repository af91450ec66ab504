import { z } from "zod";
import { leaseMs } from "./modules/idempotency/index.ts";

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default("0.0.0.0"),
  DATABASE_URL: z.string().optional(),
  SETIA_DATA_DIR: z.string().default("./data/setia"),
  SETIA_DB_POOL_MAX: z.coerce.number().int().min(1).max(200).default(20),
  SETIA_JOBS_INTERVAL_MS: z.coerce.number().int().min(0).default(60_000),
  SETIA_IDEMPOTENCY_LEASE_MS: z.coerce.number().int().min(1).default(leaseMs),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export type Config = z.infer<typeof envSchema>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return envSchema.parse(env);
}
