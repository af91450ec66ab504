import { useState } from "react";
import { ApiError } from "../shared/api.ts";
import { formatMoney, type Locale } from "../shared/i18n.ts";
import { Check, Field, Select } from "../shared/ui.tsx";

/**
 * The subset of JSON Schema the server publishes (zod's toJSONSchema of the rule registry's
 * arguments and of each reward type's benefit).
 */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: (string | number)[];
  description?: string;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  default?: unknown;
  format?: string;
  examples?: unknown[];
}

type Args = Record<string, unknown>;
export type FieldErrors = Record<string, string>;

interface Shape {
  kind: string;
  schema: JsonSchema;
  nullable: boolean;
}

const scalarTypes = new Set(["string", "number", "integer"]);

/**
 * The control a property needs. A union with null is its other member, nullable; a union of a
 * string and a number is a decimal typed as text (how money is sent).
 */
function shapeOf(schema: JsonSchema): Shape {
  const members = schema.anyOf ?? schema.oneOf;
  if (members) {
    const others = members.filter((member) => member.type !== "null");
    const nullable = others.length < members.length;
    const [only] = others;
    if (others.length === 1 && only) {
      const inner = shapeOf(only);
      const description = schema.description ?? inner.schema.description;
      return {
        kind: inner.kind,
        schema: { ...inner.schema, ...(description && { description }) },
        nullable: nullable || inner.nullable,
      };
    }
    const scalars = others.every((member) => scalarTypes.has(String(member.type)));
    return { kind: scalars ? "decimal" : "json", schema, nullable };
  }
  if (schema.enum) return { kind: "enum", schema, nullable: false };
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  const nullable = types.includes("null");
  const type = types.find((candidate) => candidate !== "null");
  if (type === "string" && schema.format === "date-time") {
    return { kind: "datetime", schema, nullable };
  }
  if (type === "array" && schema.items) {
    if (schema.items.enum) return { kind: "enum-list", schema, nullable };
    if (schema.items.type === "string") return { kind: "string-list", schema, nullable };
    if (schema.items.type === "integer" || schema.items.type === "number") {
      return { kind: "number-list", schema, nullable };
    }
  }
  return { kind: type ?? "json", schema, nullable };
}

/** Initial arguments: defaults where the schema names them; null for a required nullable field. */
export function emptyArgs(schema: JsonSchema): Args {
  const args: Args = {};
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    if (property.default !== undefined) args[name] = property.default;
    else if (schema.required?.includes(name) && shapeOf(property).nullable) args[name] = null;
  }
  return args;
}

/** An ISO instant as the value of a datetime-local input, in the browser's zone. */
export function localInput(iso: string | null | undefined): string {
  if (!iso) return "";
  const date = new Date(iso);
  return new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/** A datetime-local value as an ISO instant; "" as null. */
export function fromLocalInput(value: string): string | null {
  return value ? new Date(value).toISOString() : null;
}

/**
 * The server's messages by field path, without the leading "body." — from
 * `details.issues[].path` of a validation error or `details.field` of an amount error.
 */
export function fieldErrors(error: unknown): FieldErrors {
  if (!(error instanceof ApiError)) return {};
  const details = error.body.details ?? {};
  const errors: FieldErrors = {};
  const add = (path: unknown, message: string) => {
    if (typeof path !== "string" || !path.startsWith("body.")) return;
    const key = path.slice("body.".length);
    errors[key] ??= message;
  };
  const issues = Array.isArray(details.issues) ? details.issues : [];
  for (const issue of issues as { path?: unknown; message?: unknown }[]) {
    add(issue.path, String(issue.message ?? error.body.message));
  }
  add(details.field, error.body.message);
  return errors;
}

/** The errors under one object field, keyed relative to it ("benefit.amount" → "amount"). */
export function errorsUnder(errors: FieldErrors, prefix: string): FieldErrors {
  const under: FieldErrors = {};
  for (const [path, message] of Object.entries(errors)) {
    if (path.startsWith(`${prefix}.`)) under[path.slice(prefix.length + 1)] = message;
    else if (path === prefix) under[""] = message;
  }
  return under;
}

/** The first error at a field or anywhere below it. */
export function errorAt(errors: FieldErrors, name: string): string | undefined {
  return (
    errors[name] ??
    Object.entries(errors).find(([path]) => path.startsWith(`${name}.`))?.[1] ??
    undefined
  );
}

export interface SchemaFormProps {
  schema: JsonSchema;
  value: Args;
  onChange: (value: Args) => void;
  /** Labels by property name (the reader's language); the name itself otherwise. */
  labels?: Record<string, string>;
  /** Fixed choices by property name (e.g. the ladder's tiers for a tier id). */
  choices?: Record<string, { value: string; label: string }[]>;
  /** Properties that are money, in the program currency's major units. */
  money?: { fields: string[]; currency: string; locale: Locale };
  /** Server messages keyed by property name (see errorsUnder). */
  errors?: FieldErrors;
  /** A legend naming the group for screen readers. */
  legend?: string;
}

/**
 * A form generated from a JSON Schema: one labelled control per property, chosen by its type;
 * anything the form does not know becomes a JSON text box, so every type stays editable.
 */
export function SchemaForm(props: SchemaFormProps) {
  const set = (name: string, value: unknown) => {
    const next = { ...props.value };
    if (value === undefined || value === "") delete next[name];
    else next[name] = value;
    props.onChange(next);
  };
  return (
    <fieldset className="schema-form">
      {props.legend && <legend>{props.legend}</legend>}
      {Object.entries(props.schema.properties ?? {}).map(([name, property]) => {
        const required = props.schema.required?.includes(name) ?? false;
        const shape = shapeOf(property);
        const money = props.money?.fields.includes(name) ? props.money : undefined;
        const label = `${props.labels?.[name] ?? name}${money ? ` (${money.currency})` : ""}${required ? " *" : ""}`;
        const hint = shape.schema.description;
        const error = errorAt(props.errors ?? {}, name);
        const current = props.value[name];
        // A cleared field is null where null is meaningful and required, otherwise absent.
        const cleared = required && shape.nullable ? null : undefined;
        const choices = props.choices?.[name];
        if (choices) {
          return (
            <Select
              key={name}
              label={label}
              hint={hint}
              error={error}
              value={String(current ?? "")}
              options={[{ value: "", label: "—" }, ...choices]}
              onChange={(value) => set(name, value || cleared)}
            />
          );
        }
        switch (shape.kind) {
          case "enum":
            return (
              <Select
                key={name}
                label={label}
                hint={hint}
                error={error}
                value={String(current ?? "")}
                options={[
                  { value: "", label: "—" },
                  ...(shape.schema.enum ?? []).map((option) => ({
                    value: String(option),
                    label: String(option),
                  })),
                ]}
                onChange={(value) =>
                  set(
                    name,
                    value === ""
                      ? cleared
                      : typeof shape.schema.enum?.[0] === "number"
                        ? Number(value)
                        : value,
                  )
                }
              />
            );
          case "enum-list": {
            const chosen = new Set((current as (string | number)[] | undefined) ?? []);
            return (
              <fieldset key={name}>
                <legend>{label}</legend>
                {(shape.schema.items?.enum ?? []).map((option) => (
                  <Check
                    key={String(option)}
                    label={String(option)}
                    checked={chosen.has(option)}
                    onChange={(checked) => {
                      const next = new Set(chosen);
                      if (checked) next.add(option);
                      else next.delete(option);
                      set(name, next.size ? [...next] : undefined);
                    }}
                  />
                ))}
                {error && <small className="error">{error}</small>}
              </fieldset>
            );
          }
          case "boolean":
            return (
              <div key={name}>
                <Check label={label} checked={current === true} onChange={(v) => set(name, v)} />
                {error && <small className="error">{error}</small>}
              </div>
            );
          case "integer":
          case "number":
            return (
              <Field
                key={name}
                label={label}
                hint={hint}
                error={error}
                type="number"
                value={current === undefined || current === null ? "" : String(current)}
                onChange={(value) => set(name, value === "" ? cleared : Number(value))}
              />
            );
          case "decimal": {
            const text = current === undefined || current === null ? "" : String(current);
            const amount = Number(text);
            const shown =
              money && text !== "" && Number.isFinite(amount)
                ? formatMoney(amount, money.currency, money.locale)
                : undefined;
            return (
              <Field
                key={name}
                label={label}
                hint={[shown, hint].filter(Boolean).join(" · ") || undefined}
                error={error}
                inputMode="decimal"
                value={text}
                onChange={(value) => set(name, value.trim() === "" ? cleared : value.trim())}
              />
            );
          }
          case "datetime":
            return (
              <Field
                key={name}
                label={label}
                hint={hint}
                error={error}
                type="datetime-local"
                value={localInput(current as string | null | undefined)}
                onChange={(value) => set(name, fromLocalInput(value) ?? cleared)}
              />
            );
          case "string":
            return (
              <Field
                key={name}
                label={label}
                hint={hint}
                error={error}
                value={String(current ?? "")}
                onChange={(value) => set(name, value === "" ? cleared : value)}
              />
            );
          case "string-list":
          case "number-list":
            return (
              <Field
                key={name}
                label={label}
                hint={hint ? `${hint} (, )` : ", "}
                error={error}
                value={((current as unknown[] | undefined) ?? []).join(", ")}
                onChange={(value) => {
                  const items = value
                    .split(",")
                    .map((item) => item.trim())
                    .filter(Boolean);
                  set(
                    name,
                    items.length
                      ? shape.kind === "number-list"
                        ? items.map(Number)
                        : items
                      : undefined,
                  );
                }}
              />
            );
          default:
            return (
              <JsonField
                key={name}
                label={label}
                hint={hint}
                error={error}
                value={current}
                onChange={(value) => set(name, value)}
              />
            );
        }
      })}
    </fieldset>
  );
}

/** A value the form has no control for, typed as JSON; kept as text until it parses. */
function JsonField(props: {
  label: string;
  hint: string | undefined;
  error: string | undefined;
  value: unknown;
  onChange: (value: unknown) => void;
}) {
  const [text, setText] = useState(props.value === undefined ? "" : JSON.stringify(props.value));
  const [invalid, setInvalid] = useState(false);
  return (
    <Field
      label={`${props.label} (JSON)`}
      hint={props.hint}
      error={invalid ? "JSON" : props.error}
      multiline
      value={text}
      onChange={(value) => {
        setText(value);
        try {
          props.onChange(value.trim() ? JSON.parse(value) : undefined);
          setInvalid(false);
        } catch {
          setInvalid(true);
        }
      }}
    />
  );
}
