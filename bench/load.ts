import autocannon from "autocannon";
import { type CpuUsage, startCpuMeter } from "./cpu.ts";
import { type Fixture, purchaseFactory, randomMemberFactory } from "./workload.ts";

/** "health" is the floor: HTTP plus one trivial query, no API key lookup. */
export type PhaseKind = "purchase" | "balance" | "batch" | "health";

export interface PhaseResult {
  kind: PhaseKind;
  driver: "postgres" | "pglite";
  connections: number;
  seconds: number;
  requests: number;
  /** Completed requests per second (2xx and not). */
  requestsPerSecond: number;
  /** Purchases per second: requests for single purchases, requests × batch size for batches. */
  opsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  /** Batch items the server reported as failed, or purchases answered as replays. */
  itemFailures: number;
  /** The first few bodies of unexpected responses, to say why. */
  samples: string[];
  cpu: CpuUsage;
  /** CPU ms per purchase (or per read) on each side. */
  cpuPerOp: { server: number | null; postgres: number | null; client: number | null };
}

export interface PhaseOptions {
  fixture: Fixture;
  kind: PhaseKind;
  driver: "postgres" | "pglite";
  connections: number;
  seconds: number;
  batchSize: number;
  serverPid: number;
  /** PostgreSQL database name, for CPU accounting of its backends. */
  database?: string;
  /** Distinguishes receipts of this phase from every other phase's. */
  runTag: string;
  seed: number;
}

/** Runs one autocannon phase and checks every response was the expected 2xx. */
export async function runPhase(options: PhaseOptions): Promise<PhaseResult> {
  const { fixture, kind, connections, seconds, batchSize } = options;
  const samples: string[] = [];
  let itemFailures = 0;
  const note = (status: number, body: string) => {
    if (samples.length < 5) samples.push(`${status} ${body.slice(0, 300)}`);
  };
  const base = `/v1/programs/${fixture.programId}`;
  const auth = { authorization: `Bearer ${fixture.posKey}` };
  const json = { ...auth, "content-type": "application/json" };
  let request: autocannon.Request;
  if (kind === "purchase") {
    const next = purchaseFactory(fixture, options.runTag, options.seed);
    request = {
      method: "POST",
      path: `${base}/transactions`,
      headers: json,
      setupRequest: (req) => ({ ...req, body: JSON.stringify(next()) }),
      onResponse: (status, body) => {
        if (status === 201) return;
        // 200 is a replay: the receipt was not new, so the phase did not measure ingestion.
        if (status === 200) itemFailures += 1;
        note(status, String(body));
      },
    };
  } else if (kind === "balance") {
    const next = randomMemberFactory(fixture, options.seed);
    request = {
      method: "GET",
      setupRequest: (req) => ({ ...req, path: `${base}/members/${next().id}/balance` }),
      onResponse: (status, body) => {
        if (status !== 200) note(status, String(body));
      },
    };
  } else if (kind === "health") {
    request = {
      method: "GET",
      path: "/health",
      onResponse: (status, body) => {
        if (status !== 200) note(status, String(body));
      },
    };
  } else {
    const next = purchaseFactory(fixture, options.runTag, options.seed);
    request = {
      method: "POST",
      path: `${base}/transactions/batch`,
      headers: json,
      setupRequest: (req) => ({
        ...req,
        body: JSON.stringify({ transactions: Array.from({ length: batchSize }, next) }),
      }),
      onResponse: (status, body) => {
        if (status !== 200) return note(status, String(body));
        // Only the small counters at the head are needed; skip parsing 100 results.
        const created = /"created":(\d+)/.exec(String(body));
        const missing = batchSize - Number(created?.[1] ?? 0);
        if (missing > 0) {
          itemFailures += missing;
          note(status, String(body));
        }
      },
    };
  }

  const meter = startCpuMeter({
    serverPid: options.serverPid,
    ...(options.database !== undefined && { database: options.database }),
  });
  const result = await autocannon({
    url: fixture.baseUrl,
    connections,
    duration: seconds,
    // A batch of 100 can take long under lock contention; don't count it as a timeout early.
    timeout: 60,
    headers: auth,
    requests: [request],
  });
  const cpu = meter.stop();
  const requests = result.requests.total;
  const requestsPerSecond = requests / result.duration;
  const ops = kind === "batch" ? requests * batchSize : requests;
  const perOp = (ms: number | null) => (ms === null || ops === 0 ? null : ms / ops);
  const statusCodes: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) {
    statusCodes[code] = stat.count ?? 0;
  }
  return {
    kind,
    driver: options.driver,
    connections,
    seconds: result.duration,
    requests,
    requestsPerSecond,
    opsPerSecond: ops / result.duration,
    latencyMs: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
      mean: result.latency.mean,
    },
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    itemFailures,
    samples,
    cpu,
    cpuPerOp: {
      server: perOp(cpu.serverMs),
      postgres: perOp(cpu.postgresMs),
      client: perOp(cpu.clientMs),
    },
  };
}

/** Unmeasured load so the server's JIT, pools and caches are warm before the first phase. */
export async function warmUp(
  fixture: Fixture,
  seconds: number,
  connections: number,
  runTag: string,
) {
  if (seconds <= 0) return;
  const next = purchaseFactory(fixture, runTag, 7);
  const members = randomMemberFactory(fixture, 7);
  const base = `/v1/programs/${fixture.programId}`;
  const auth = { authorization: `Bearer ${fixture.posKey}` };
  await autocannon({
    url: fixture.baseUrl,
    connections,
    duration: seconds,
    headers: auth,
    requests: [
      {
        method: "POST",
        path: `${base}/transactions`,
        headers: { ...auth, "content-type": "application/json" },
        setupRequest: (req) => ({ ...req, body: JSON.stringify(next()) }),
      },
      {
        method: "GET",
        setupRequest: (req) => ({ ...req, path: `${base}/members/${members().id}/balance` }),
      },
    ],
  });
}
