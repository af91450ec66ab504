import { type ReactNode, useEffect, useId, useRef, useState } from "react";
import { ApiError } from "./api.ts";
import { palette } from "./contrast.ts";
import { type Locale, locales } from "./i18n.ts";

/** The hint and error of a control, tied to it by aria-describedby; an error marks it invalid. */
function described(id: string, hint?: string, error?: string) {
  return {
    control: {
      "aria-describedby":
        [hint && `${id}-hint`, error && `${id}-error`].filter(Boolean).join(" ") || undefined,
      "aria-invalid": error ? true : undefined,
    },
    notes: (
      <>
        {hint && (
          <small id={`${id}-hint`} className="hint">
            {hint}
          </small>
        )}
        {error && (
          <small id={`${id}-error`} className="error">
            {error}
          </small>
        )}
      </>
    ),
  };
}

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
  /** The server's message for this field (details.issues by path). */
  error?: string | undefined;
  name?: string;
  /** A text area for longer texts and lists, one item a line. */
  multiline?: boolean;
}) {
  const id = useId();
  const { control, notes } = described(id, props.hint, props.error);
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      {props.multiline ? (
        <textarea
          id={id}
          name={props.name}
          value={props.value}
          required={props.required}
          {...control}
          onChange={(event) => props.onChange(event.target.value)}
        />
      ) : (
        <input
          id={id}
          name={props.name}
          type={props.type ?? "text"}
          value={props.value}
          required={props.required}
          autoComplete={props.autoComplete}
          inputMode={props.inputMode}
          {...control}
          onChange={(event) => props.onChange(event.target.value)}
        />
      )}
      {notes}
    </div>
  );
}

export function Select<T extends string>(props: {
  label: string;
  value: T;
  options: { value: T; label: string }[];
  onChange: (value: T) => void;
  hint?: string;
  error?: string | undefined;
}) {
  const id = useId();
  const { control, notes } = described(id, props.hint, props.error);
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <select
        id={id}
        value={props.value}
        {...control}
        onChange={(event) => props.onChange(event.target.value as T)}
      >
        {props.options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
      {notes}
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
  // Text and focus colours are derived so that they stay readable on any brand colour.
  for (const [name, value] of Object.entries(palette(branding.colors)))
    style.setProperty(name, value);
}

/** The tab's title names the page, then the app ("Anggota · Setia Admin"); null leaves it. */
export function usePageTitle(page: string | null, app: string): void {
  useEffect(() => {
    if (page !== null) document.title = `${page} · ${app}`;
  }, [page, app]);
}

/**
 * A modal question in the page instead of the browser's confirm(): branded, read by screen
 * readers as a dialog, Escape answers no, and focus goes back to the control that asked.
 */
export function useConfirm(labels: {
  yes: string;
  no: string;
}): [(question: string) => Promise<boolean>, ReactNode] {
  const [question, setQuestion] = useState<{ text: string; answer: (yes: boolean) => void }>();
  const ask = (text: string) =>
    new Promise<boolean>((resolve) => setQuestion({ text, answer: resolve }));
  const answer = (yes: boolean) => {
    question?.answer(yes);
    setQuestion(undefined);
  };
  const dialog = question && (
    <ConfirmDialog question={question.text} labels={labels} onAnswer={answer} />
  );
  return [ask, dialog];
}

function ConfirmDialog(props: {
  question: string;
  labels: { yes: string; no: string };
  onAnswer: (yes: boolean) => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  useEffect(() => {
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    ref.current?.showModal();
    return () => opener?.focus();
  }, []);
  return (
    <dialog
      ref={ref}
      aria-labelledby={id}
      onCancel={(event) => {
        event.preventDefault();
        props.onAnswer(false);
      }}
    >
      <p id={id}>{props.question}</p>
      <div className="row">
        <button type="button" onClick={() => props.onAnswer(true)}>
          {props.labels.yes}
        </button>
        <button type="button" className="secondary" onClick={() => props.onAnswer(false)}>
          {props.labels.no}
        </button>
      </div>
    </dialog>
  );
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
