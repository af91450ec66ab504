import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import nodemailer, { type Transporter } from "nodemailer";
import webpush from "web-push";
import type { Ctx } from "../../context.ts";
import type { Queryable, Tx } from "../../db/client.ts";

/** Channel configuration, from the environment (see README); every part is optional. */
export interface CommunicationsConfig {
  /** smtp://user:pass@host:587 or smtps://…; without it email messages fail as not configured. */
  smtpUrl?: string | undefined;
  /** From address when a program sets none. */
  emailFrom?: string | undefined;
  /** Base URL of this server as members reach it, for unsubscribe links. */
  publicUrl?: string | undefined;
  /** Generic SMS/WhatsApp gateway: JSON POST signed with HMAC-SHA256 of the secret. */
  provider?: { url: string; secret: string } | undefined;
  /** VAPID key pair; generated once and kept in the database when absent. */
  vapid?: { publicKey: string; privateKey: string } | undefined;
  vapidSubject?: string | undefined;
  /** Signs unsubscribe links; generated once and kept in the database when absent. */
  unsubscribeSecret?: string | undefined;
}

export const defaultPublicUrl = "http://localhost:8080";
export const signatureHeader = "x-setia-signature";
/** Inbound requests signed further from now than this are refused (replays). */
export const signatureToleranceSeconds = 300;
const sendTimeoutMs = 15_000;

/** A failed delivery; retryable ones are tried again with backoff. `gone` drops a push subscription. */
export class SendError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly gone = false,
  ) {
    super(message);
  }
}

export interface EmailContent {
  from: { name: string; address: string };
  to: string;
  subject: string;
  text: string;
  html: string;
  unsubscribeUrl: string | null;
}

const transports = new Map<string, Transporter>();

export async function sendEmail(config: CommunicationsConfig, mail: EmailContent): Promise<string> {
  if (!config.smtpUrl)
    throw new SendError("channel_not_configured: SETIA_SMTP_URL is not set", false);
  let transport = transports.get(config.smtpUrl);
  if (!transport) {
    // Pooled: a batch goes out over a few kept-open connections instead of one per message.
    transport = nodemailer.createTransport({ url: config.smtpUrl, pool: true, maxConnections: 5 });
    transports.set(config.smtpUrl, transport);
  }
  try {
    const info = await transport.sendMail({
      from: mail.from,
      to: mail.to,
      subject: mail.subject,
      text: mail.text,
      html: mail.html,
      ...(mail.unsubscribeUrl && {
        // RFC 8058 one-click unsubscribe: mail clients POST to the same link.
        headers: {
          "List-Unsubscribe": `<${mail.unsubscribeUrl}>`,
          "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
      }),
    });
    return info.messageId;
  } catch (error) {
    const code = (error as { responseCode?: number }).responseCode;
    // 5xx from the SMTP server is a permanent refusal (bad address); the rest may pass later.
    throw new SendError(`smtp: ${(error as Error).message}`, !(code && code >= 500));
  }
}

/** Closes pooled SMTP connections; the next email opens them again. */
export function closeTransports(): void {
  for (const transport of transports.values()) transport.close();
  transports.clear();
}

/** Signature header value for a body: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`. */
export function sign(secret: string, body: string, at: Date): string {
  const t = Math.floor(at.getTime() / 1000);
  const mac = createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
  return `t=${t},v1=${mac}`;
}

export function verifySignature(secret: string, body: string, header: string, at: Date): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!match) return false;
  const t = Number(match[1]);
  if (Math.abs(at.getTime() / 1000 - t) > signatureToleranceSeconds) return false;
  const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(match[2] as string, "hex"));
}

/** The documented provider request: one JSON object per message. */
export interface ProviderRequest {
  to: string;
  channel: "sms" | "whatsapp";
  body: string;
  messageId: string;
}

export async function sendViaProvider(
  config: CommunicationsConfig,
  request: ProviderRequest,
  at: Date,
): Promise<string | null> {
  if (!config.provider) {
    throw new SendError("channel_not_configured: SETIA_MESSAGING_PROVIDER_URL is not set", false);
  }
  const body = JSON.stringify(request);
  let response: Response;
  try {
    response = await fetch(config.provider.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        [signatureHeader]: sign(config.provider.secret, body, at),
      },
      body,
      signal: AbortSignal.timeout(sendTimeoutMs),
    });
  } catch (error) {
    throw new SendError(`provider: ${(error as Error).message}`, true);
  }
  const text = await response.text();
  if (!response.ok) {
    // 429 and 5xx are the gateway's trouble; another 4xx means this message will never pass.
    const retryable = response.status === 429 || response.status >= 500;
    throw new SendError(`provider answered ${response.status}: ${text.slice(0, 200)}`, retryable);
  }
  try {
    const id = (JSON.parse(text) as { id?: unknown }).id;
    return typeof id === "string" ? id.slice(0, 200) : null;
  } catch {
    return null;
  }
}

export interface PushTarget {
  endpoint: string;
  p256dh: string;
  auth: string;
}

/** Encrypts (RFC 8291 aes128gcm) and signs (VAPID) with web-push, then posts it ourselves. */
export async function sendPush(
  vapid: { publicKey: string; privateKey: string; subject: string },
  target: PushTarget,
  payload: { title: string; body: string; messageId: string },
): Promise<void> {
  const details = webpush.generateRequestDetails(
    { endpoint: target.endpoint, keys: { p256dh: target.p256dh, auth: target.auth } },
    JSON.stringify(payload),
    { vapidDetails: vapid, TTL: 86_400, contentEncoding: "aes128gcm" },
  );
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(details.headers)) {
    if (name.toLowerCase() !== "content-length") headers[name] = String(value);
  }
  let response: Response;
  try {
    response = await fetch(details.endpoint, {
      method: details.method,
      headers,
      body: details.body ? new Uint8Array(details.body) : null,
      signal: AbortSignal.timeout(sendTimeoutMs),
    });
  } catch (error) {
    throw new SendError(`push: ${(error as Error).message}`, true);
  }
  await response.arrayBuffer();
  if (response.ok) return;
  if (response.status === 404 || response.status === 410) {
    throw new SendError(`push subscription gone (${response.status})`, false, true);
  }
  throw new SendError(
    `push service answered ${response.status}`,
    response.status === 429 || response.status >= 500,
  );
}

const keyCache = new WeakMap<object, Map<string, unknown>>();

/**
 * A generated secret kept in the database: the first process to need it creates it (insert on
 * conflict do nothing, then read), and each process remembers it per database.
 */
async function storedKey<T>(
  ctx: Ctx,
  db: Queryable | Tx,
  name: string,
  generate: () => T,
): Promise<T> {
  let cache = keyCache.get(ctx.db);
  if (!cache) {
    cache = new Map();
    keyCache.set(ctx.db, cache);
  }
  if (cache.has(name)) return cache.get(name) as T;
  const read = () =>
    db.selectFrom("comm_keys").select("value").where("name", "=", name).executeTakeFirst();
  let found = await read();
  if (!found) {
    await db
      .insertInto("comm_keys")
      .values({ name, value: JSON.stringify(generate()), created_at: ctx.clock.now() })
      .onConflict((oc) => oc.column("name").doNothing())
      .execute();
    found = await read();
  }
  cache.set(name, found?.value);
  return found?.value as T;
}

export async function vapidKeys(
  ctx: Ctx,
): Promise<{ publicKey: string; privateKey: string; subject: string }> {
  const config = ctx.communications ?? {};
  const keys =
    config.vapid ??
    (await storedKey(ctx, ctx.db.kysely, "vapid", () => webpush.generateVAPIDKeys()));
  const subject =
    config.vapidSubject ?? `mailto:${addressOf(config.emailFrom) ?? "no-reply@localhost"}`;
  return { ...keys, subject };
}

/** Read in the caller's transaction: on the embedded database a second connection would wait. */
export async function unsubscribeSecret(ctx: Ctx, db: Queryable | Tx): Promise<string> {
  return (
    ctx.communications?.unsubscribeSecret ??
    (await storedKey(ctx, db, "unsubscribe", () => randomBytes(32).toString("base64url")))
  );
}

function addressOf(from: string | undefined): string | undefined {
  if (!from) return undefined;
  return /<([^>]+)>/.exec(from)?.[1] ?? from;
}

/** The channel part of the environment configuration. */
export function communicationsConfig(env: {
  SETIA_SMTP_URL?: string | undefined;
  SETIA_SMTP_FROM?: string | undefined;
  SETIA_PUBLIC_URL?: string | undefined;
  SETIA_MESSAGING_PROVIDER_URL?: string | undefined;
  SETIA_MESSAGING_PROVIDER_SECRET?: string | undefined;
  SETIA_VAPID_PUBLIC_KEY?: string | undefined;
  SETIA_VAPID_PRIVATE_KEY?: string | undefined;
  SETIA_VAPID_SUBJECT?: string | undefined;
}): CommunicationsConfig {
  const provider =
    env.SETIA_MESSAGING_PROVIDER_URL && env.SETIA_MESSAGING_PROVIDER_SECRET
      ? { url: env.SETIA_MESSAGING_PROVIDER_URL, secret: env.SETIA_MESSAGING_PROVIDER_SECRET }
      : undefined;
  const vapid =
    env.SETIA_VAPID_PUBLIC_KEY && env.SETIA_VAPID_PRIVATE_KEY
      ? { publicKey: env.SETIA_VAPID_PUBLIC_KEY, privateKey: env.SETIA_VAPID_PRIVATE_KEY }
      : undefined;
  return {
    smtpUrl: env.SETIA_SMTP_URL,
    emailFrom: env.SETIA_SMTP_FROM,
    publicUrl: env.SETIA_PUBLIC_URL,
    provider,
    vapid,
    vapidSubject: env.SETIA_VAPID_SUBJECT,
  };
}
