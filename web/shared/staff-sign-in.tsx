import { useEffect, useState } from "react";
import { type Api, ApiError } from "./api.ts";
import type { ResetText, SignInText, TotpText } from "./staff-sign-in-text.ts";
import { ErrorNote, Field, useAction } from "./ui.tsx";

export interface StaffLike {
  totpEnabled: boolean;
}

type SignInResult<S> = { stage: "signed_in"; staff: S } | { stage: "totp_required" };

/**
 * Staff sign-in shared by the admin dashboard and the POS page: password, then the TOTP step
 * when the account has it; or an API key, for integrators and a till set up with a pos key; or
 * "forgot password", which emails a reset link.
 */
export function StaffSignIn<S extends StaffLike>(props: {
  t: SignInText & ResetText;
  api: Api;
  onStaff: (staff: S) => Promise<void> | void;
  onKey: (key: string) => Promise<void> | void;
}) {
  const { t, api } = props;
  const [stage, setStage] = useState<"password" | "totp" | "key" | "forgot">("password");
  const [resetSent, setResetSent] = useState(false);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [recovery, setRecovery] = useState("");
  const [key, setKey] = useState("");
  const [run, busy, error] = useAction();
  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    run(async () => {
      if (stage === "key") return props.onKey(key.trim());
      if (stage === "forgot") {
        await api.post("/v1/staff/sign-in/forgot-password", { email });
        return setResetSent(true);
      }
      if (stage === "totp") {
        const body = recovery ? { recoveryCode: recovery } : { code };
        const result = await api.post<{ staff: S }>("/v1/staff/sign-in/totp", body);
        return props.onStaff(result.staff);
      }
      const result = await api.post<SignInResult<S>>("/v1/staff/sign-in", { email, password });
      if (result.stage === "totp_required") return setStage("totp");
      return props.onStaff(result.staff);
    });
  };
  return (
    <form onSubmit={submit} className="card">
      <h1>{stage === "forgot" ? t.forgotPassword : t.signIn}</h1>
      {stage === "forgot" && (
        <>
          <p>{t.forgotHelp}</p>
          <Field
            label={t.email}
            value={email}
            onChange={setEmail}
            type="email"
            autoComplete="username"
            required
          />
          {resetSent && (
            <p className="ok" role="status">
              {t.resetLinkSent}
            </p>
          )}
        </>
      )}
      {stage === "key" && (
        <Field label={t.apiKey} value={key} onChange={setKey} type="password" required />
      )}
      {stage === "totp" && (
        <>
          <Field
            label={t.totpCode}
            value={code}
            onChange={setCode}
            inputMode="numeric"
            autoComplete="one-time-code"
          />
          <Field label={t.recoveryCode} value={recovery} onChange={setRecovery} />
        </>
      )}
      {stage === "password" && (
        <>
          <Field
            label={t.email}
            value={email}
            onChange={setEmail}
            type="email"
            autoComplete="username"
            required
          />
          <Field
            label={t.password}
            value={password}
            onChange={setPassword}
            type="password"
            autoComplete="current-password"
            required
          />
        </>
      )}
      <ErrorNote error={error} />
      <div className="row">
        <button type="submit" disabled={busy}>
          {stage === "totp" ? t.verify : stage === "forgot" ? t.sendResetLink : t.signIn}
        </button>
        {stage === "password" && (
          <button
            type="button"
            className="secondary"
            onClick={() => {
              setResetSent(false);
              setStage("forgot");
            }}
          >
            {t.forgotPassword}
          </button>
        )}
        {(stage === "password" || stage === "key") && (
          <button
            type="button"
            className="secondary"
            onClick={() => setStage(stage === "key" ? "password" : "key")}
          >
            {stage === "key" ? t.useAccount : t.useKey}
          </button>
        )}
        {stage === "forgot" && (
          <button type="button" className="secondary" onClick={() => setStage("password")}>
            {t.backToSignIn}
          </button>
        )}
      </div>
    </form>
  );
}

/** First sign-in: the server refuses staff without TOTP, so the QR code and confirmation come first. */
export function EnrolTotp(props: { t: TotpText; api: Api; onDone: () => void }) {
  const { t, api } = props;
  const [enrolment, setEnrolment] = useState<{ secret: string; qrDataUrl: string } | null>(null);
  const [code, setCode] = useState("");
  const [recoveryCodes, setRecoveryCodes] = useState<string[] | null>(null);
  const [run, busy, error] = useAction();
  // biome-ignore lint/correctness/useExhaustiveDependencies: one enrolment per mount
  useEffect(() => {
    run(async () => setEnrolment(await api.post("/v1/staff/me/totp/enrol")));
  }, []);
  if (recoveryCodes)
    return (
      <section className="card">
        <h1>{t.recoveryCodes}</h1>
        <ul className="codes">
          {recoveryCodes.map((c) => (
            <li key={c}>
              <code>{c}</code>
            </li>
          ))}
        </ul>
        <button type="button" onClick={props.onDone}>
          {t.continue}
        </button>
      </section>
    );
  return (
    <form
      className="card"
      onSubmit={(event) => {
        event.preventDefault();
        run(async () => {
          const result = await api.post<{ recoveryCodes: string[] }>("/v1/staff/me/totp/confirm", {
            code,
          });
          setRecoveryCodes(result.recoveryCodes);
        });
      }}
    >
      <h1>{t.totpSetup}</h1>
      <p>{t.totpSetupHelp}</p>
      {enrolment && (
        <>
          <img className="qr" src={enrolment.qrDataUrl} alt={t.totpSetupHelp} />
          <p>
            {t.secret}: <code data-testid="totp-secret">{enrolment.secret}</code>
          </p>
        </>
      )}
      <Field
        label={t.totpCode}
        value={code}
        onChange={setCode}
        inputMode="numeric"
        autoComplete="one-time-code"
        required
      />
      <ErrorNote error={error} />
      <button type="submit" disabled={busy || !enrolment}>
        {t.confirm}
      </button>
    </form>
  );
}

/**
 * The page a reset email links to (/admin/reset-password#token=…): a new password, with the same
 * strength rules as everywhere. Sessions end; the next sign-in still asks for the TOTP code.
 */
export function ResetPassword(props: {
  t: ResetText & Pick<SignInText, "signIn">;
  api: Api;
  onDone: () => void;
}) {
  const { t, api } = props;
  const [token] = useState(() => new URLSearchParams(location.hash.slice(1)).get("token") ?? "");
  const [password, setPassword] = useState("");
  const [done, setDone] = useState(false);
  const [run, busy, error] = useAction();
  // The token leaves the address bar and this page's history entry once read.
  useEffect(() => history.replaceState(null, "", location.pathname), []);
  if (done)
    return (
      <section className="card">
        <h1>{t.resetPassword}</h1>
        <p className="ok" role="status">
          {t.passwordChanged}
        </p>
        <button type="button" onClick={props.onDone}>
          {t.signIn}
        </button>
      </section>
    );
  const details = error instanceof ApiError ? error.body.details : undefined;
  return (
    <form
      className="card"
      onSubmit={(event) => {
        event.preventDefault();
        run(async () => {
          await api.post("/v1/staff/sign-in/reset-password", { token, password });
          setDone(true);
        });
      }}
    >
      <h1>{t.resetPassword}</h1>
      <Field
        label={t.newPassword}
        value={password}
        onChange={setPassword}
        type="password"
        autoComplete="new-password"
        required
      />
      <ErrorNote error={error} />
      {details && typeof details.warning === "string" && <p className="hint">{details.warning}</p>}
      <button type="submit" disabled={busy || !token}>
        {t.resetPassword}
      </button>
    </form>
  );
}
