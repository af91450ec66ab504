import { type ReactNode, useEffect, useId, useState } from "react";
import { ApiError } from "./api.ts";
import { type Locale, locales } from "./i18n.ts";

/** A labelled input: every input in the apps has a visible label tied to it. */
export function Field(props: {
  label: string;
  value: string;
  onChange: (value: string) => void;
  type?: string;
  required?: boolean;
  autoComplete?: string;
  inputMode?: "numeric" | "tel" | "email" | "text" | "decimal";
  hint?: string;
  name?: string;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <input
        id={id}
        name={props.name}
        type={props.type ?? "text"}
        value={props.value}
        required={props.required}
        autoComplete={props.autoComplete}
        inputMode={props.inputMode}
        aria-describedby={props.hint ? `${id}-hint` : undefined}
        onChange={(event) => props.onChange(event.target.value)}
      />
      {props.hint && (
        <small id={`${id}-hint`} className="hint">
          {props.hint}
        </small>
      )}
    </div>
  );
}

export function Select<T extends string>(props: {
  label: string;
  value: T;
  options: { value: T; label: string }[];
  onChange: (value: T) => void;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <select
        id={id}
        value={props.value}
        onChange={(event) => props.onChange(event.target.value as T)}
      >
        {props.options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
    </div>
  );
}

export function Check(props: {
  label: string;
  checked: boolean;
  onChange: (checked: boolean) => void;
}) {
  const id = useId();
  return (
    <div className="check">
      <input
        id={id}
        type="checkbox"
        checked={props.checked}
        onChange={(event) => props.onChange(event.target.checked)}
      />
      <label htmlFor={id}>{props.label}</label>
    </div>
  );
}

/** An API error as the user sees it: the message, the code and the request id to quote. */
export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const text =
    error instanceof ApiError
      ? `${error.body.message} (${error.body.code}; ${error.body.requestId})`
      : String(error instanceof Error ? error.message : error);
  return (
    <p className="error" role="alert">
      {text}
    </p>
  );
}

export function LocaleSwitch(props: {
  locale: Locale;
  onChange: (locale: Locale) => void;
  label: string;
}) {
  return (
    <Select
      label={props.label}
      value={props.locale}
      options={locales.map((locale) => ({
        value: locale,
        label: locale === "id" ? "Bahasa Indonesia" : "English",
      }))}
      onChange={props.onChange}
    />
  );
}

/** Runs an async action with a busy flag and the last error; returns [run, busy, error]. */
export function useAction(): [
  <T>(action: () => Promise<T>) => Promise<T | undefined>,
  boolean,
  unknown,
] {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async <T,>(action: () => Promise<T>) => {
    setBusy(true);
    setError(null);
    try {
      return await action();
    } catch (caught) {
      setError(caught);
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return [run, busy, error];
}

export function Card(props: { title?: string; children: ReactNode; className?: string }) {
  return (
    <section className={`card ${props.className ?? ""}`}>
      {props.title && <h2>{props.title}</h2>}
      {props.children}
    </section>
  );
}

/** Program colours as CSS variables; the stylesheet reads only variables. */
export interface Branding {
  programId: string;
  name: string;
  logoUrl: string | null;
  colors: { primary: string; secondary: string; background: string; text: string };
  tone: "friendly" | "formal" | "playful";
  locale: Locale;
}

export function applyBranding(branding: Branding): void {
  const style = document.documentElement.style;
  style.setProperty("--primary", branding.colors.primary);
  style.setProperty("--secondary", branding.colors.secondary);
  style.setProperty("--bg", branding.colors.background);
  style.setProperty("--text", branding.colors.text);
  document.title = branding.name;
}

/** Loads data when the dependencies change; `reload` fetches again after a write. */
export function useLoad<T>(
  load: () => Promise<T>,
  deps: unknown[],
): {
  data: T | undefined;
  error: unknown;
  reload: () => void;
} {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<unknown>(null);
  const [round, setRound] = useState(0);
  // biome-ignore lint/correctness/useExhaustiveDependencies: callers name their dependencies; round reloads
  useEffect(() => {
    let live = true;
    load().then(
      (value) => {
        if (!live) return;
        setData(value);
        setError(null);
      },
      (caught: unknown) => {
        if (live) setError(caught);
      },
    );
    return () => {
      live = false;
    };
  }, [...deps, round]);
  return { data, error, reload: () => setRound((value) => value + 1) };
}
