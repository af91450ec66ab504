import { createHmac } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type ParsedMail, simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import { expect } from "vitest";
import { runCommunicationsOnce } from "../../src/modules/communications/index.ts";
import type { TestApi } from "../harness.ts";

/** A real SMTP server on a free local port that parses every mail it accepts. */
export async function startSmtp(): Promise<{
  url: string;
  mails: ParsedMail[];
  close(): Promise<void>;
}> {
  const mails: ParsedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    // The sender keeps pooled connections open; closing the test server does not wait for them.
    closeTimeout: 50,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((mail) => {
          mails.push(mail);
          callback();
        })
        .catch(callback);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface Received {
  path: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

/** A local HTTP endpoint that records requests and answers with `answer` (default 200). */
export async function startReceiver(
  answer: (request: Received) => { status: number; body?: string } = () => ({ status: 200 }),
): Promise<{ url: string; requests: Received[]; close(): Promise<void> }> {
  const requests: Received[] = [];
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const received = {
        path: request.url ?? "",
        headers: request.headers,
        body: Buffer.concat(chunks),
      };
      requests.push(received);
      const { status, body } = answer(received);
      response.writeHead(status, { "content-type": "application/json" });
      response.end(body ?? "{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** One worker pass; tests run sequentially, so outbox gaps are rollbacks, not commits in flight. */
export function runMessages(api: TestApi) {
  return runCommunicationsOnce(api.ctx);
}

/** The documented provider signature, computed here independently of the server's code. */
export function signBody(secret: string, body: string, at: Date): string {
  const t = Math.floor(at.getTime() / 1000);
  return `t=${t},v1=${createHmac("sha256", secret).update(`${t}.${body}`).digest("hex")}`;
}

type Message = {
  id: string;
  trigger: string;
  channel: string;
  state: string;
  reason: string | null;
  attempts: number;
  subject: string | null;
  variables: Record<string, unknown>;
  nextAttemptAt: string | null;
};

export async function messagesOf(
  api: TestApi,
  programId: string,
  memberId: string,
  query = "",
): Promise<Message[]> {
  const response = await api.call(
    "GET",
    `/v1/programs/${programId}/members/${memberId}/messages?limit=200${query}`,
  );
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.data as Message[];
}

/** Row counts of the communications tables, for "nothing written" checks. */
export async function commCounts(api: TestApi): Promise<Record<string, number>> {
  const db = api.ctx.db.kysely;
  const count = async (
    table:
      | "comm_messages"
      | "message_templates"
      | "comm_settings"
      | "push_subscriptions"
      | "comm_member_prefs",
  ) =>
    Number(
      (
        await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as("n"))
          .executeTakeFirstOrThrow()
      ).n,
    );
  return {
    messages: await count("comm_messages"),
    templates: await count("message_templates"),
    settings: await count("comm_settings"),
    push: await count("push_subscriptions"),
    prefs: await count("comm_member_prefs"),
  };
}
