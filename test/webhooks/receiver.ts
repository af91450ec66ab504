import http from "node:http";
import type { AddressInfo } from "node:net";
import { sql } from "kysely";
import type { TestApi } from "../harness.ts";

export interface Received {
  headers: Record<string, string>;
  body: string;
}

/** What the receiver does with the next request: answer a status, or hang until the sender gives up. */
export type Behaviour = number | "hang";

/**
 * A webhook receiver on 127.0.0.1 that records every request. It can answer any status, hang
 * (the sender's timeout), or stop listening (connection refused) and start again on its port.
 */
export class Receiver {
  readonly received: Received[] = [];
  behaviour: Behaviour = 204;
  #server: http.Server | null = null;
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  async start(): Promise<this> {
    const server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(request.headers)) {
          if (typeof value === "string") headers[name] = value;
        }
        this.received.push({ headers, body: Buffer.concat(chunks).toString("utf8") });
        if (this.behaviour === "hang") return;
        response.writeHead(this.behaviour, { "content-type": "text/plain" });
        response.end(`answer ${this.behaviour} ${"x".repeat(2000)}`);
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, "127.0.0.1", resolve));
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
    return this;
  }

  /** Stops listening: the next attempt finds the port closed. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = null;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Event ids received, in order (with repeats). */
  eventIds(): string[] {
    return this.received.map((request) => (JSON.parse(request.body) as { id: string }).id);
  }
}

/** Rows in the webhook tables, for "nothing written" checks on this module's routes. */
export async function webhookRowCounts(api: TestApi): Promise<Record<string, number>> {
  const result = await sql<Record<string, number>>`select
    (select count(*) from webhook_endpoints)::int as endpoints,
    (select count(*) from webhook_messages)::int as messages,
    (select count(*) from webhook_attempts)::int as attempts,
    (select count(*) from outbox_events)::int as events`.execute(api.ctx.db.kysely);
  return result.rows[0] ?? {};
}

/** Test settings: 127.0.0.1 allowed explicitly, a short timeout so a hanging receiver is quick. */
export const testWebhookSettings = {
  allowPrivate: false,
  allowedHosts: ["127.0.0.1"],
  timeoutMs: 500,
};
