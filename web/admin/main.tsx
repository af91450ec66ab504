import "../shared/base.css";
import "./admin.css";
import { type ReactNode, StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { Api, ApiError, type Page, type Program } from "../shared/api.ts";
import { fill, initialLocale, type Locale, storeLocale } from "../shared/i18n.ts";
import { EnrolTotp, ResetPassword, StaffSignIn } from "../shared/staff-sign-in.tsx";
import { ErrorNote, Field, LocaleSwitch, Select, useAction, usePageTitle } from "../shared/ui.tsx";
import { text } from "./i18n.ts";
import { CampaignEditor, Campaigns } from "./pages/campaigns.tsx";
import { Home } from "./pages/home.tsx";
import { MemberPage, Members } from "./pages/members.tsx";
import { RewardEditor, Rewards } from "./pages/rewards.tsx";
import { ApiKeys, Settings, StaffPage } from "./pages/settings.tsx";
import { Stores } from "./pages/stores.tsx";
import { Tiers } from "./pages/tiers.tsx";
import {
  type Area,
  adminPath,
  mayOpen,
  type Role,
  roleOn,
  type Session,
  SessionContext,
  type Staff,
} from "./session.ts";

const sessionApi = () => new Api({ kind: "session", csrfCookie: "setia_staff_csrf" });
const keyStorage = "setia.admin.key";
const programStorage = "setia.admin.program";

type Stage =
  | { name: "loading" }
  | { name: "signIn" }
  | { name: "enrolTotp"; staff: Staff }
  | { name: "ready"; api: Api; staff: Staff | null; programs: Program[] };

function usePath(): [string, (path: string) => void] {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const onPop = () => setPath(location.pathname);
    addEventListener("popstate", onPop);
    return () => removeEventListener("popstate", onPop);
  }, []);
  const navigate = (next: string) => {
    history.pushState(null, "", next);
    setPath(next);
    document.getElementById("main")?.focus();
  };
  return [path.replace(/^\/admin\/?/, ""), navigate];
}

async function loadPrograms(api: Api, staff: Staff | null): Promise<Program[]> {
  const programs = await api.get<Page<Program> | Program[]>("/v1/programs");
  const list = Array.isArray(programs) ? programs : programs.data;
  if (!staff || staff.memberships.some((m) => m.programId === null)) return list;
  const ids = new Set(staff.memberships.map((m) => m.programId));
  return list.filter((program) => ids.has(program.id));
}

function App() {
  const [locale, setLocale] = useState<Locale>(initialLocale());
  const [stage, setStage] = useState<Stage>({ name: "loading" });
  const [path, navigate] = usePath();
  const t = text[locale];
  const changeLocale = (next: Locale) => {
    storeLocale(next);
    setLocale(next);
  };
  // The dashboard names its own pages; before it, the stage names the page.
  const invite = path.startsWith("accept-invite");
  const reset = path.startsWith("reset-password");
  usePageTitle(
    invite
      ? t.acceptInvite
      : reset
        ? t.resetPassword
        : { loading: t.loading, signIn: t.signIn, enrolTotp: t.totpSetup, ready: null }[stage.name],
    t.appName,
  );

  const enter = async (api: Api, staff: Staff | null) => {
    // Cashiers are refused before any enrolment: the dashboard is not theirs (the POS page is).
    const roles = staff?.memberships.map((m) => m.role) ?? [];
    const cashierOnly = roles.length > 0 && roles.every((role) => role === "cashier");
    if (staff && !staff.totpEnabled && !cashierOnly) return setStage({ name: "enrolTotp", staff });
    if (cashierOnly) return setStage({ name: "ready", api, staff, programs: [] });
    setStage({ name: "ready", api, staff, programs: await loadPrograms(api, staff) });
  };

  // biome-ignore lint/correctness/useExhaustiveDependencies: the session is checked once on load
  useEffect(() => {
    const key = sessionStorage.getItem(keyStorage);
    const start = async () => {
      if (key) return enter(new Api({ kind: "key", key }), null);
      const api = sessionApi();
      const me = await api.get<{ staff: Staff }>("/v1/staff/me");
      return enter(api, me.staff);
    };
    start().catch(() => setStage({ name: "signIn" }));
  }, []);

  const header = (right?: ReactNode) => (
    <header className="top">
      <a className="skip" href="#main">
        {t.skip}
      </a>
      <strong>{t.appName}</strong>
      <div className="row">
        <LocaleSwitch label={t.language} locale={locale} onChange={changeLocale} />
        {right}
      </div>
    </header>
  );

  if (invite)
    return (
      <>
        {header()}
        <main id="main" tabIndex={-1} className="narrow">
          <AcceptInvite t={t} onDone={() => navigate(adminPath(""))} />
        </main>
      </>
    );
  if (reset)
    return (
      <>
        {header()}
        <main id="main" tabIndex={-1} className="narrow">
          <ResetPassword t={t} api={sessionApi()} onDone={() => location.assign(adminPath(""))} />
        </main>
      </>
    );
  if (stage.name === "loading") return <p>{t.loading}</p>;
  if (stage.name === "signIn")
    return (
      <>
        {header()}
        <main id="main" tabIndex={-1} className="narrow">
          <StaffSignIn<Staff>
            t={t}
            api={sessionApi()}
            onStaff={(staff) => enter(sessionApi(), staff)}
            onKey={async (key) => {
              await enter(new Api({ kind: "key", key }), null);
              sessionStorage.setItem(keyStorage, key);
            }}
          />
        </main>
      </>
    );
  if (stage.name === "enrolTotp")
    return (
      <>
        {header()}
        <main id="main" tabIndex={-1} className="narrow">
          <EnrolTotp
            t={t}
            api={sessionApi()}
            onDone={() => enter(sessionApi(), { ...stage.staff, totpEnabled: true })}
          />
        </main>
      </>
    );

  const signOut = async () => {
    sessionStorage.removeItem(keyStorage);
    if (!stage.staff) return setStage({ name: "signIn" });
    await stage.api.post("/v1/staff/sign-out").catch(() => undefined);
    setStage({ name: "signIn" });
  };
  const signOutButton = (
    <button type="button" className="secondary" onClick={signOut}>
      {t.signOut}
    </button>
  );
  return (
    <>
      {header(signOutButton)}
      <Dashboard
        api={stage.api}
        staff={stage.staff}
        programs={stage.programs}
        locale={locale}
        path={path}
        navigate={navigate}
      />
    </>
  );
}

function Dashboard(props: {
  api: Api;
  staff: Staff | null;
  programs: Program[];
  locale: Locale;
  path: string;
  navigate: (path: string) => void;
}) {
  const t = text[props.locale];
  const stored = localStorage.getItem(programStorage);
  const [programId, setProgramId] = useState(
    props.programs.find((p) => p.id === stored)?.id ?? props.programs[0]?.id ?? "",
  );
  const nav: { path: string; area: Area; label: string }[] = [
    { path: "", area: "reports", label: t.home },
    { path: "members", area: "members", label: t.members },
    { path: "campaigns", area: "rules", label: t.campaigns },
    { path: "tiers", area: "rules", label: t.tiers },
    { path: "rewards", area: "rewards", label: t.rewards },
    { path: "stores", area: "stores", label: t.stores },
    { path: "settings", area: "settings", label: t.settings },
    { path: "staff", area: "staff", label: t.staff },
    { path: "keys", area: "keys", label: t.apiKeys },
  ];
  const [section = "", id] = props.path.split("/");
  const current = nav.find((item) => item.path === section);
  usePageTitle(current?.label ?? t.notFound, t.appName);
  const staffRoles = props.staff?.memberships.map((m) => m.role) ?? [];
  if (props.staff && staffRoles.length > 0 && staffRoles.every((role) => role === "cashier"))
    return (
      <main id="main" tabIndex={-1} className="narrow">
        <p className="error" role="alert">
          {t.cashierRefused}
        </p>
        <a className="button" href="/pos/">
          {t.openPos}
        </a>
      </main>
    );
  // An API key session: the server decides per call; the menu shows everything.
  const role: Role | null = props.staff ? roleOn(props.staff, programId) : "owner";
  if (!role || !programId)
    return (
      <main id="main" tabIndex={-1}>
        <p>{t.notFound}</p>
      </main>
    );
  const session: Session = { ...props, programId, role, t };
  const page = () => {
    if (current && !mayOpen(role, current.area))
      return (
        <p className="error" role="alert">
          {t.notAllowed}
        </p>
      );
    switch (section) {
      case "members":
        return id ? <MemberPage memberId={id} /> : <Members />;
      case "campaigns":
        return id ? <CampaignEditor campaignId={id} /> : <Campaigns />;
      case "tiers":
        return <Tiers />;
      case "rewards":
        return id ? <RewardEditor rewardId={id} /> : <Rewards />;
      case "stores":
        return <Stores />;
      case "settings":
        return <Settings />;
      case "staff":
        return <StaffPage />;
      case "keys":
        return <ApiKeys />;
      default:
        return <Home />;
    }
  };
  return (
    <SessionContext.Provider value={session}>
      <div className="layout">
        <nav aria-label={t.appName}>
          {props.programs.length > 1 && (
            <Select
              label={t.program}
              value={programId}
              options={props.programs.map((p) => ({ value: p.id, label: p.name }))}
              onChange={(value) => {
                localStorage.setItem(programStorage, value);
                setProgramId(value);
              }}
            />
          )}
          <ul>
            {nav
              .filter((item) => mayOpen(role, item.area))
              .map((item) => (
                <li key={item.path}>
                  <a
                    href={adminPath(item.path)}
                    aria-current={item === current ? "page" : undefined}
                    onClick={(event) => {
                      event.preventDefault();
                      props.navigate(adminPath(item.path));
                    }}
                  >
                    {item.label}
                  </a>
                </li>
              ))}
          </ul>
        </nav>
        <main id="main" tabIndex={-1}>
          {page()}
        </main>
      </div>
    </SessionContext.Provider>
  );
}

function AcceptInvite(props: { t: (typeof text)["id"]; onDone: () => void }) {
  const { t } = props;
  const token = new URLSearchParams(location.hash.slice(1)).get("token") ?? "";
  const [invitation, setInvitation] = useState<{ email: string; role: string } | null>(null);
  const [displayName, setDisplayName] = useState("");
  const [password, setPassword] = useState("");
  const [done, setDone] = useState(false);
  const [run, busy, error] = useAction();
  const api = sessionApi();
  // biome-ignore lint/correctness/useExhaustiveDependencies: loads the invitation once
  useEffect(() => {
    run(async () =>
      setInvitation(await api.get(`/v1/staff/invitations/${encodeURIComponent(token)}`)),
    );
  }, []);
  if (done)
    return (
      <section className="card">
        <p className="ok" role="status">
          {t.accountCreated}
        </p>
        <button type="button" onClick={() => location.assign(adminPath(""))}>
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
          await api.post("/v1/staff/invitations/accept", { token, password, displayName });
          setDone(true);
        });
      }}
    >
      <h1>{t.acceptInvite}</h1>
      {invitation && <p>{fill(t.inviteFor, { email: invitation.email, role: invitation.role })}</p>}
      <Field
        label={t.displayName}
        value={displayName}
        onChange={setDisplayName}
        required
        autoComplete="name"
      />
      <Field
        label={t.password}
        value={password}
        onChange={setPassword}
        type="password"
        required
        autoComplete="new-password"
      />
      <ErrorNote error={error} />
      {details && typeof details.warning === "string" && <p className="hint">{details.warning}</p>}
      <button type="submit" disabled={busy || !invitation}>
        {t.acceptInvite}
      </button>
    </form>
  );
}

document.documentElement.lang = initialLocale();
const root = document.getElementById("root");
if (root)
  createRoot(root).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
