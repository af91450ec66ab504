import { useState } from "react";
import { newIdempotencyKey } from "../../shared/api.ts";
import { palette } from "../../shared/contrast.ts";
import { fill, formatDate } from "../../shared/i18n.ts";
import {
  type Branding,
  Card,
  ErrorNote,
  Field,
  Select,
  useAction,
  useLoad,
} from "../../shared/ui.tsx";
import { type Role, type Staff, useSession } from "../session.ts";
import { ProgramSettings } from "./program.tsx";
import { StorePicker } from "./stores.tsx";

/** The colours the portal and the till draw instead of the chosen ones, so that text reads. */
function ReadableColours({ colors }: { colors: Branding["colors"] }) {
  const { t } = useSession();
  const drawn = palette(colors);
  const same = (name: string, chosen: string) =>
    drawn[name]?.toLowerCase() === chosen.toLowerCase();
  const kept =
    same("--text", colors.text) &&
    same("--primary-text", colors.primary) &&
    same("--on-primary", "#ffffff");
  if (kept) return null;
  return (
    <p className="hint" role="status" data-testid="readable-colours">
      {fill(t.readableColours, {
        text: drawn["--text"] ?? "",
        link: drawn["--primary-text"] ?? "",
        onPrimary: drawn["--on-primary"] ?? "",
      })}
    </p>
  );
}

/** Program settings and branding (name, colours, tone, logo) that the portal and POS apply. */
export function Settings() {
  const { api, programId, t } = useSession();
  const base = `/v1/programs/${programId}`;
  const [branding, setBranding] = useState<Branding | null>(null);
  const brandingLoad = useLoad(
    () => api.get<Branding>(`/v1/portal/${programId}/branding`).then(setBranding),
    [programId],
  );
  const [file, setFile] = useState<File | null>(null);
  const [run, busy, error] = useAction();
  const [saved, setSaved] = useState(false);
  const done = () => setSaved(true);
  const color = (key: keyof Branding["colors"], label: string) =>
    branding && (
      <Field
        label={label}
        type="color"
        value={branding.colors[key]}
        onChange={(value) =>
          setBranding({ ...branding, colors: { ...branding.colors, [key]: value } })
        }
      />
    );
  return (
    <>
      <h1>{t.settings}</h1>
      <ProgramSettings />
      <Card title={t.branding}>
        <ErrorNote error={brandingLoad.error} />
        {branding && (
          <form
            onSubmit={(event) => {
              event.preventDefault();
              run(async () => {
                const { name, colors, tone, locale } = branding;
                setBranding(
                  await api.put<Branding>(`${base}/branding`, { name, colors, tone, locale }),
                );
                done();
              });
            }}
          >
            <div className="row">
              <Field
                label={t.name}
                value={branding.name}
                onChange={(name) => setBranding({ ...branding, name })}
              />
              {color("primary", t.colorPrimary)}
              {color("secondary", t.colorSecondary)}
              {color("background", t.colorBackground)}
              {color("text", t.colorText)}
              <Select
                label={t.tone}
                value={branding.tone}
                options={[
                  { value: "friendly", label: "friendly" },
                  { value: "formal", label: "formal" },
                  { value: "playful", label: "playful" },
                ]}
                onChange={(tone) => setBranding({ ...branding, tone })}
              />
              <Select
                label={t.language}
                value={branding.locale}
                options={[
                  { value: "id", label: "Bahasa Indonesia" },
                  { value: "en", label: "English" },
                ]}
                onChange={(locale) => setBranding({ ...branding, locale })}
              />
            </div>
            <ReadableColours colors={branding.colors} />
            <button type="submit" disabled={busy}>
              {t.save}
            </button>
          </form>
        )}
        <form
          className="row"
          onSubmit={(event) => {
            event.preventDefault();
            if (!file) return;
            run(async () => {
              const form = new FormData();
              form.set("file", file);
              setBranding(await api.request<Branding>("POST", `${base}/branding/logo`, { form }));
              done();
            });
          }}
        >
          <div className="field">
            <label htmlFor="logo">{t.logo}</label>
            <input
              id="logo"
              type="file"
              accept="image/png,image/jpeg"
              onChange={(event) => setFile(event.target.files?.[0] ?? null)}
            />
          </div>
          {branding?.logoUrl && <img src={branding.logoUrl} alt={branding.name} height={48} />}
          <button type="submit" disabled={busy || !file}>
            {t.upload}
          </button>
        </form>
      </Card>
      {saved && (
        <p className="ok" role="status">
          {t.saved}
        </p>
      )}
      <ErrorNote error={error} />
    </>
  );
}

const roles: Role[] = ["owner", "admin", "marketer", "analyst", "support", "cashier"];

export function StaffPage() {
  const { api, programId, t } = useSession();
  const base = `/v1/programs/${programId}/staff`;
  const list = useLoad(() => api.get<{ data: Staff[] }>(base), [base]);
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("cashier");
  const [storeIds, setStoreIds] = useState<string[]>([]);
  const [inviteUrl, setInviteUrl] = useState("");
  const [resetSentTo, setResetSentTo] = useState("");
  const [run, busy, error] = useAction();
  return (
    <>
      <h1>{t.staff}</h1>
      <ErrorNote error={list.error} />
      <table>
        <thead>
          <tr>
            <th>{t.name}</th>
            <th>{t.email}</th>
            <th>{t.role}</th>
            <th>{t.status}</th>
            <th>
              <span className="visually-hidden">{t.actions}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {list.data?.data.map((staff) => (
            <tr key={staff.id}>
              <td>{staff.displayName}</td>
              <td>{staff.email}</td>
              <td>{staff.memberships.map((m) => m.role).join(", ")}</td>
              <td>{staff.status}</td>
              <td>
                <button
                  type="button"
                  className="secondary"
                  onClick={() =>
                    run(async () => {
                      await api.post(
                        `${base}/${staff.id}/${staff.status === "active" ? "disable" : "enable"}`,
                      );
                      list.reload();
                    })
                  }
                >
                  {staff.status === "active" ? t.disable : t.enable}
                </button>
                {/* Deployment owners are not staff of this program: they reset themselves. */}
                {staff.status === "active" &&
                  staff.memberships.some((m) => m.programId === programId) && (
                    <button
                      type="button"
                      className="secondary"
                      onClick={() =>
                        run(async () => {
                          await api.post(`${base}/${staff.id}/password-reset`);
                          setResetSentTo(staff.email);
                        })
                      }
                    >
                      {t.sendPasswordReset}
                    </button>
                  )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {resetSentTo && (
        <p className="ok" role="status">
          {fill(t.passwordResetSent, { email: resetSentTo })}
        </p>
      )}
      <Card title={t.invite}>
        <form
          className="row"
          onSubmit={(event) => {
            event.preventDefault();
            run(async () => {
              const result = await api.post<{ inviteUrl: string }>(`${base}/invitations`, {
                email,
                role,
                ...(role === "cashier" && { storeIds }),
              });
              setInviteUrl(result.inviteUrl);
            });
          }}
        >
          <Field label={t.email} type="email" value={email} onChange={setEmail} required />
          <Select
            label={t.role}
            value={role}
            options={roles.map((r) => ({ value: r, label: r }))}
            onChange={setRole}
          />
          {role === "cashier" && <StorePicker value={storeIds} onChange={setStoreIds} />}
          <button type="submit" disabled={busy}>
            {t.invite}
          </button>
        </form>
        {inviteUrl && (
          <p role="status">
            {t.inviteLink}: <code data-testid="invite-url">{inviteUrl}</code>
          </p>
        )}
      </Card>
      <ErrorNote error={error} />
    </>
  );
}

interface ApiKey {
  id: string;
  name: string;
  role: string;
  createdAt: string;
  revokedAt?: string | null;
}

export function ApiKeys() {
  const { api, programId, t, locale } = useSession();
  const base = `/v1/programs/${programId}/api-keys`;
  const list = useLoad(() => api.get<{ data: ApiKey[] }>(base), [base]);
  const [name, setName] = useState("");
  const [role, setRole] = useState<"admin" | "pos" | "read">("pos");
  const [secret, setSecret] = useState("");
  const [run, busy, error] = useAction();
  return (
    <>
      <h1>{t.apiKeys}</h1>
      <ErrorNote error={list.error} />
      <table>
        <thead>
          <tr>
            <th>{t.name}</th>
            <th>{t.role}</th>
            <th>{t.date}</th>
            <th>
              <span className="visually-hidden">{t.actions}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {list.data?.data.map((key) => (
            <tr key={key.id}>
              <td>{key.name}</td>
              <td>{key.role}</td>
              <td>{formatDate(key.createdAt, locale)}</td>
              <td>
                {key.revokedAt ? (
                  formatDate(key.revokedAt, locale)
                ) : (
                  <button
                    type="button"
                    className="danger"
                    onClick={() =>
                      run(async () => {
                        await api.post(`${base}/${key.id}/revoke`, {}, newIdempotencyKey());
                        list.reload();
                      })
                    }
                  >
                    {t.revoke}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <Card title={t.createKey}>
        <form
          className="row"
          onSubmit={(event) => {
            event.preventDefault();
            run(async () => {
              const result = await api.post<{ secret: string }>(
                base,
                { name, role },
                newIdempotencyKey(),
              );
              setSecret(result.secret);
              list.reload();
            });
          }}
        >
          <Field label={t.name} value={name} onChange={setName} required />
          <Select
            label={t.role}
            value={role}
            options={[
              { value: "pos", label: "pos" },
              { value: "read", label: "read" },
              { value: "admin", label: "admin" },
            ]}
            onChange={setRole}
          />
          <button type="submit" disabled={busy}>
            {t.createKey}
          </button>
        </form>
        {secret && (
          <p role="status">
            {t.secretOnce}: <code>{secret}</code>
          </p>
        )}
      </Card>
      <ErrorNote error={error} />
    </>
  );
}
