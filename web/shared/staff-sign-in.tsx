import { useEffect, useState } from "react";
import type { Api } from "./api.ts";
import type { SignInText, TotpText } from "./staff-sign-in-text.ts";
import { ErrorNote, Field, useAction } from "./ui.tsx";

export interface StaffLike {
  totpEnabled: boolean;
}

type SignInResult<S> = { stage: "signed_in"; staff: S } | { stage: "totp_required" };

/**
 * Staff sign-in shared by the admin dashboard and the POS page: password, then the TOTP step
 * when the account has it; or an API key, for integrators and a till set up with a pos key.
 */
export function StaffSignIn<S extends StaffLike>(props: {
  t: SignInText;
  api: Api;
  onStaff: (staff: S) => Promise<void> | void;
  onKey: (key: string) => Promise<void> | void;
}) {
  const { t, api } = props;
  const [stage, setStage] = useState<"password" | "totp" | "key">("password");
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
      <h1>{t.signIn}</h1>
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
          {stage === "totp" ? t.verify : t.signIn}
        </button>
        {stage !== "totp" && (
          <button
            type="button"
            className="secondary"
            onClick={() => setStage(stage === "key" ? "password" : "key")}
          >
            {stage === "key" ? t.useAccount : t.useKey}
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
