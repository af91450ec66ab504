import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { Queryable, Tx } from "../../db/client.ts";
import { DomainError, notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { emit } from "../outbox/index.ts";
import { getProgram } from "../programs/index.ts";
import type { WebhookEndpointsTable } from "./tables.ts";

export const eventTypesPerEndpointMax = 50;
export const endpointsPerProgramMax = 50;
export const urlLengthMax = 2048;
/** Longest a rotated-out secret stays valid: receivers have a week to switch. */
export const previousSecretValidSecondsMax = 7 * 86_400;

const eventTypeFilter = z
  .string()
  .max(100)
  .regex(
    /^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$/,
    "an event type (points.earned), a prefix (points.*) or * for all",
  );

const urlField = z
  .string()
  .max(urlLengthMax)
  .describe("http(s) URL the events are POSTed to; https is strongly advised");

export const endpointCreateSchema = z
  .object({
    url: urlField,
    description: z.string().trim().max(500).optional(),
    eventTypes: z
      .array(eventTypeFilter)
      .min(1)
      .max(eventTypesPerEndpointMax)
      .describe("Exact types (points.earned), prefixes (points.*) or * for every event"),
  })
  .strict();
export type EndpointCreate = z.infer<typeof endpointCreateSchema>;

export const endpointUpdateSchema = z
  .object({
    url: urlField.optional(),
    description: z.string().trim().max(500).nullable().optional(),
    eventTypes: z.array(eventTypeFilter).min(1).max(eventTypesPerEndpointMax).optional(),
    enabled: z.boolean().optional().describe("false pauses deliveries; true resumes them"),
  })
  .strict();
export type EndpointUpdate = z.infer<typeof endpointUpdateSchema>;

export const secretRotateSchema = z
  .object({
    previousSecretValidSeconds: z
      .number()
      .int()
      .min(0)
      .max(previousSecretValidSecondsMax)
      .default(86_400)
      .describe("How long the old secret keeps signing too (default one day)"),
  })
  .strict();

export const endpointSchema = z
  .object({
    id: z.string(),
    programId: z.string(),
    url: z.string(),
    description: z.string().nullable(),
    eventTypes: z.array(z.string()),
    status: z.enum(["enabled", "disabled"]),
    disabledReason: z.string().nullable(),
    previousSecretValidUntil: z
      .string()
      .nullable()
      .describe("While set, requests carry signatures with the new and the previous secret"),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: "WebhookEndpoint" });
export type EndpointView = z.infer<typeof endpointSchema>;

/** Checks the URL's form; whether its host may be reached is checked by the caller (DNS). */
export function parseEndpointUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new DomainError("validation_failed", "url is not a valid URL", { field: "url" });
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new DomainError("validation_failed", "url must start with https:// or http://", {
      field: "url",
    });
  }
  if (url.username || url.password) {
    // Credentials in the URL would end up in logs; receivers verify the signature instead.
    throw new DomainError("validation_failed", "url must not contain a user name or password", {
      field: "url",
    });
  }
  return url;
}

/** `whsec_` and 24 random bytes in base64, as Standard Webhooks libraries expect. */
function newSecret(): string {
  return `whsec_${randomBytes(24).toString("base64")}`;
}

/** True when an event type passes one of the endpoint's filters (exact, `prefix.*` or `*`). */
export function matchesFilters(filters: string[], type: string): boolean {
  return filters.some(
    (filter) =>
      filter === "*" ||
      filter === type ||
      (filter.endsWith(".*") && type.startsWith(filter.slice(0, -1))),
  );
}

function toView(row: WebhookEndpointsTable, now: Date): EndpointView {
  const rotating = row.previous_secret_until && row.previous_secret_until > now;
  return {
    id: row.id,
    programId: row.program_id,
    url: row.url,
    description: row.description,
    eventTypes: row.event_types,
    status: row.status,
    disabledReason: row.disabled_reason,
    previousSecretValidUntil: rotating ? (row.previous_secret_until?.toISOString() ?? null) : null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

async function findEndpoint(
  db: Tx | Queryable,
  programId: string,
  endpointId: string,
  lock = false,
): Promise<WebhookEndpointsTable> {
  let query = db
    .selectFrom("webhook_endpoints")
    .selectAll()
    .where("id", "=", endpointId)
    .where("program_id", "=", programId);
  if (lock) query = query.forUpdate();
  const row = await query.executeTakeFirst();
  if (!row) throw notFound("webhook_endpoint_not_found", endpointId);
  return row;
}

export async function createEndpoint(
  tx: Tx,
  now: Date,
  programId: string,
  input: EndpointCreate,
): Promise<{ endpoint: EndpointView; secret: string }> {
  await getProgram(tx, programId);
  const count = await tx
    .selectFrom("webhook_endpoints")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("program_id", "=", programId)
    .executeTakeFirstOrThrow();
  if (Number(count.n) >= endpointsPerProgramMax) {
    throw new DomainError(
      "validation_failed",
      `a program has at most ${endpointsPerProgramMax} webhook endpoints`,
      { field: "url", max: endpointsPerProgramMax },
    );
  }
  const row: WebhookEndpointsTable = {
    id: newId("webhookEndpoint"),
    program_id: programId,
    url: input.url,
    description: input.description ?? null,
    event_types: [...new Set(input.eventTypes)],
    secret: newSecret(),
    previous_secret: null,
    previous_secret_until: null,
    status: "enabled",
    disabled_reason: null,
    created_at: now,
    updated_at: now,
  };
  await tx.insertInto("webhook_endpoints").values(row).execute();
  await emit(tx, {
    programId,
    type: "webhook_endpoint.created",
    payload: { endpointId: row.id, url: row.url },
    at: now,
  });
  return { endpoint: toView(row, now), secret: row.secret };
}

export async function updateEndpoint(
  tx: Tx,
  now: Date,
  programId: string,
  endpointId: string,
  input: EndpointUpdate,
): Promise<EndpointView> {
  const current = await findEndpoint(tx, programId, endpointId, true);
  const changes: Partial<WebhookEndpointsTable> = { updated_at: now };
  if (input.url !== undefined) changes.url = input.url;
  if (input.description !== undefined) changes.description = input.description;
  if (input.eventTypes !== undefined) changes.event_types = [...new Set(input.eventTypes)];
  if (input.enabled !== undefined) {
    changes.status = input.enabled ? "enabled" : "disabled";
    changes.disabled_reason = input.enabled ? null : "disabled by an administrator";
  }
  const row = await tx
    .updateTable("webhook_endpoints")
    .set(changes)
    .where("id", "=", current.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await emit(tx, {
    programId,
    type: "webhook_endpoint.updated",
    payload: { endpointId, fields: Object.keys(input) },
    at: now,
  });
  return toView(row, now);
}

/** A new secret; the previous one keeps signing too until `previousSecretValidSeconds` pass. */
export async function rotateSecret(
  tx: Tx,
  now: Date,
  programId: string,
  endpointId: string,
  previousSecretValidSeconds: number,
): Promise<{ endpoint: EndpointView; secret: string }> {
  const current = await findEndpoint(tx, programId, endpointId, true);
  const row = await tx
    .updateTable("webhook_endpoints")
    .set({
      secret: newSecret(),
      previous_secret: current.secret,
      previous_secret_until: new Date(now.getTime() + previousSecretValidSeconds * 1000),
      updated_at: now,
    })
    .where("id", "=", current.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await emit(tx, {
    programId,
    type: "webhook_endpoint.updated",
    payload: { endpointId, fields: ["secret"] },
    at: now,
  });
  return { endpoint: toView(row, now), secret: row.secret };
}

export async function deleteEndpoint(
  tx: Tx,
  now: Date,
  programId: string,
  endpointId: string,
): Promise<void> {
  const current = await findEndpoint(tx, programId, endpointId, true);
  await tx.deleteFrom("webhook_endpoints").where("id", "=", current.id).execute();
  await emit(tx, {
    programId,
    type: "webhook_endpoint.deleted",
    payload: { endpointId },
    at: now,
  });
}

export async function getEndpoint(
  db: Queryable,
  now: Date,
  programId: string,
  endpointId: string,
): Promise<EndpointView> {
  return toView(await findEndpoint(db, programId, endpointId), now);
}

/** Fails unless the endpoint exists in the program; for routes that read its log. */
export async function assertEndpoint(
  db: Tx | Queryable,
  programId: string,
  endpointId: string,
): Promise<WebhookEndpointsTable> {
  return findEndpoint(db, programId, endpointId);
}

export async function listEndpoints(
  db: Queryable,
  now: Date,
  programId: string,
  page: { limit: number; after?: string | undefined },
): Promise<EndpointView[]> {
  let query = db
    .selectFrom("webhook_endpoints")
    .selectAll()
    .where("program_id", "=", programId)
    .orderBy("id")
    .limit(page.limit);
  if (page.after !== undefined) query = query.where("id", ">", page.after);
  return (await query.execute()).map((row) => toView(row, now));
}

/** Stops deliveries to an endpoint that said it is gone (410); emits once. */
export async function disableGoneEndpoint(tx: Tx, now: Date, endpointId: string): Promise<boolean> {
  const reason = "the receiver answered 410 Gone";
  const row = await tx
    .updateTable("webhook_endpoints")
    .set({ status: "disabled", disabled_reason: reason, updated_at: now })
    .where("id", "=", endpointId)
    .where("status", "=", "enabled")
    .returning(["id", "program_id"])
    .executeTakeFirst();
  if (!row) return false;
  await emit(tx, {
    programId: row.program_id,
    type: "webhook_endpoint.disabled",
    payload: { endpointId, reason },
    at: now,
  });
  return true;
}
