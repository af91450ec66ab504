import { useId } from "react";
import { Check, Field, Select } from "../shared/ui.tsx";

/** The subset of JSON Schema the rule registry produces (zod's toJSONSchema of each args object). */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: (string | number)[];
  description?: string;
  anyOf?: JsonSchema[];
  default?: unknown;
}

type Args = Record<string, unknown>;

function kindOf(schema: JsonSchema): string {
  if (schema.enum) return "enum";
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  if (type === "array" && schema.items) {
    if (schema.items.enum) return "enum-list";
    if (schema.items.type === "string") return "string-list";
    if (schema.items.type === "integer" || schema.items.type === "number") return "number-list";
  }
  return type ?? "json";
}

/** Initial arguments: defaults where the schema names them, otherwise nothing. */
export function emptyArgs(schema: JsonSchema): Args {
  const args: Args = {};
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    if (property.default !== undefined) args[name] = property.default;
  }
  return args;
}

/**
 * A form generated from a JSON Schema: one labelled control per property, chosen by its type;
 * anything the form does not know becomes a JSON text box, so every rule type stays editable.
 */
export function SchemaForm(props: {
  schema: JsonSchema;
  value: Args;
  onChange: (value: Args) => void;
}) {
  const id = useId();
  const set = (name: string, value: unknown) => {
    const next = { ...props.value };
    if (value === undefined || value === "") delete next[name];
    else next[name] = value;
    props.onChange(next);
  };
  return (
    <fieldset className="schema-form">
      {Object.entries(props.schema.properties ?? {}).map(([name, property]) => {
        const required = props.schema.required?.includes(name) ?? false;
        const label = `${name}${required ? " *" : ""}${property.description ? ` — ${property.description}` : ""}`;
        const current = props.value[name];
        switch (kindOf(property)) {
          case "enum":
            return (
              <Select
                key={name}
                label={label}
                value={String(current ?? "")}
                options={[
                  { value: "", label: "—" },
                  ...(property.enum ?? []).map((option) => ({
                    value: String(option),
                    label: String(option),
                  })),
                ]}
                onChange={(value) =>
                  set(name, typeof property.enum?.[0] === "number" && value ? Number(value) : value)
                }
              />
            );
          case "enum-list": {
            const chosen = new Set((current as (string | number)[] | undefined) ?? []);
            return (
              <fieldset key={name}>
                <legend>{label}</legend>
                {(property.items?.enum ?? []).map((option) => (
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
              </fieldset>
            );
          }
          case "boolean":
            return (
              <Check
                key={name}
                label={label}
                checked={current === true}
                onChange={(v) => set(name, v)}
              />
            );
          case "integer":
          case "number":
            return (
              <Field
                key={name}
                label={label}
                type="number"
                value={current === undefined ? "" : String(current)}
                onChange={(value) => set(name, value === "" ? undefined : Number(value))}
              />
            );
          case "string":
            return (
              <Field
                key={name}
                label={label}
                value={String(current ?? "")}
                onChange={(value) => set(name, value)}
              />
            );
          case "string-list":
          case "number-list":
            return (
              <Field
                key={name}
                label={label}
                hint=", "
                value={((current as unknown[] | undefined) ?? []).join(", ")}
                onChange={(value) => {
                  const items = value
                    .split(",")
                    .map((item) => item.trim())
                    .filter(Boolean);
                  set(
                    name,
                    items.length
                      ? kindOf(property) === "number-list"
                        ? items.map(Number)
                        : items
                      : undefined,
                  );
                }}
              />
            );
          default:
            return (
              <div className="field" key={name}>
                <label htmlFor={`${id}-${name}`}>{label} (JSON)</label>
                <textarea
                  id={`${id}-${name}`}
                  defaultValue={current === undefined ? "" : JSON.stringify(current)}
                  onBlur={(event) => {
                    try {
                      set(name, event.target.value ? JSON.parse(event.target.value) : undefined);
                    } catch {
                      event.target.setCustomValidity("JSON");
                      event.target.reportValidity();
                    }
                  }}
                  onInput={(event) => event.currentTarget.setCustomValidity("")}
                />
              </div>
            );
        }
      })}
    </fieldset>
  );
}
