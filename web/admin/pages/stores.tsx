import { useState } from "react";
import { type Page, type Program, query } from "../../shared/api.ts";
import { fill, formatDate, formatMoney, formatNumber } from "../../shared/i18n.ts";
import { Card, Check, ErrorNote, Field, Select, useAction, useLoad } from "../../shared/ui.tsx";
import { fieldErrors } from "../schema-form.tsx";
import { useSession } from "../session.ts";

type Channel = "pos" | "webshop" | "mobile";
type Status = "active" | "closed";

interface Figures {
  days: number;
  purchases: number;
  members: number;
  salesTotal: string;
  pointsIssued: number;
  lastPurchaseAt: string | null;
}

export interface Store {
  code: string;
  name: string;
  city: string | null;
  address: string | null;
  timezone: string | null;
  channel: Channel;
  status: Status;
  figures?: Figures;
}

interface Draft {
  code: string;
  name: string;
  city: string;
  address: string;
  timezone: string;
  channel: Channel;
}

const emptyDraft: Draft = {
  code: "",
  name: "",
  city: "",
  address: "",
  timezone: "",
  channel: "pos",
};

const draftOf = (store: Store): Draft => ({
  code: store.code,
  name: store.name,
  city: store.city ?? "",
  address: store.address ?? "",
  timezone: store.timezone ?? "",
  channel: store.channel,
});

/** The store's path in the API: codes are the integrator's own strings, so they are encoded. */
const storePath = (programId: string, code: string) =>
  `/v1/programs/${programId}/stores/${encodeURIComponent(code)}`;

/**
 * The stores registry: list with figures, search, create, edit, close/reopen, and the store codes
 * purchases carry that are not registered yet, each one click from registration.
 */
export function Stores() {
  const { api, programId, t, locale, role } = useSession();
  const base = `/v1/programs/${programId}`;
  const canWrite = role === "owner" || role === "admin";
  const [search, setSearch] = useState("");
  const [status, setStatus] = useState<Status | "">("");
  const [filter, setFilter] = useState({ q: "", status: "" });
  // Pages after the first, loaded with "load more"; cleared when the first page loads again.
  const [more, setMore] = useState<{ stores: Store[]; cursor: string | null } | null>(null);
  const [draft, setDraft] = useState<Draft>(emptyDraft);
  const [editing, setEditing] = useState<string | null>(null);
  const [message, setMessage] = useState("");
  const [run, busy, error] = useAction();
  const program = useLoad(() => api.get<Program>(base), [base]);
  const list = useLoad(
    () => api.get<Page<Store>>(`${base}/stores${query({ ...filter, limit: 50 })}`),
    [base, filter],
  );
  const unregistered = useLoad(
    () => api.get<Page<{ code: string; figures: Figures }>>(`${base}/unregistered-stores?limit=20`),
    [base],
  );
  const currency = program.data?.currency ?? "IDR";
  const stores = [...(list.data?.data ?? []), ...(more?.stores ?? [])];
  const next = more ? more.cursor : list.data?.nextCursor;
  const errors = fieldErrors(error);
  const reload = () => {
    setMore(null);
    list.reload();
    unregistered.reload();
  };
  const save = () =>
    run(async () => {
      const fields = {
        name: draft.name,
        city: draft.city || null,
        address: draft.address || null,
        timezone: draft.timezone || null,
        channel: draft.channel,
      };
      if (editing) await api.patch(storePath(programId, editing), fields);
      else await api.post(`${base}/stores`, { code: draft.code, ...fields });
      setMessage(fill(t.storeSaved, { code: editing ?? draft.code }));
      setDraft(emptyDraft);
      setEditing(null);
      reload();
    });
  const setStatusOf = (store: Store, next: Status) =>
    run(async () => {
      await api.patch(storePath(programId, store.code), { status: next });
      setMessage(fill(t.storeSaved, { code: store.code }));
      reload();
    });
  const register = (code: string) =>
    run(async () => {
      // One click: the code doubles as the name until someone edits it.
      await api.post(`${base}/stores`, { code, name: code });
      setMessage(fill(t.storeSaved, { code }));
      reload();
    });
  const days = stores[0]?.figures?.days ?? 30;
  return (
    <>
      <h1>{t.stores}</h1>
      <form
        className="card row"
        onSubmit={(event) => {
          event.preventDefault();
          setMore(null);
          setFilter({ q: search.trim(), status });
        }}
      >
        <Field label={t.searchStores} value={search} onChange={setSearch} />
        <Select
          label={t.status}
          value={status}
          options={[
            { value: "", label: t.allStatuses },
            { value: "active", label: t.storeActive },
            { value: "closed", label: t.storeClosed },
          ]}
          onChange={setStatus}
        />
        <button type="submit">{t.search}</button>
      </form>
      {message && (
        <p className="ok" role="status">
          {message}
        </p>
      )}
      <ErrorNote error={error} />
      <ErrorNote error={list.error ?? program.error} />
      <table>
        <caption className="hint">{fill(t.figuresOver, { days })}</caption>
        <thead>
          <tr>
            <th>{t.code}</th>
            <th>{t.name}</th>
            <th>{t.city}</th>
            <th>{t.channel}</th>
            <th>{t.status}</th>
            <th>{t.purchases}</th>
            <th>{t.sales}</th>
            <th>{t.pointsIssued}</th>
            <th>{t.lastPurchase}</th>
            {canWrite && (
              <th>
                <span className="visually-hidden">{t.actions}</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {stores.map((store) => (
            <tr key={store.code}>
              <td>
                <code>{store.code}</code>
              </td>
              <td>{store.name}</td>
              <td>{store.city ?? "—"}</td>
              <td>{t[`channel_${store.channel}`]}</td>
              <td>{store.status === "active" ? t.storeActive : t.storeClosed}</td>
              <td>{formatNumber(store.figures?.purchases ?? 0, locale)}</td>
              <td>{formatMoney(store.figures?.salesTotal ?? "0", currency, locale)}</td>
              <td>{formatNumber(store.figures?.pointsIssued ?? 0, locale)}</td>
              <td>{formatDate(store.figures?.lastPurchaseAt, locale)}</td>
              {canWrite && (
                <td className="row">
                  <button
                    type="button"
                    className="secondary"
                    aria-label={`${t.edit} ${store.code}`}
                    onClick={() => {
                      setEditing(store.code);
                      setDraft(draftOf(store));
                    }}
                  >
                    {t.edit}
                  </button>
                  <button
                    type="button"
                    className={store.status === "active" ? "danger" : "secondary"}
                    aria-label={`${store.status === "active" ? t.closeStore : t.reopenStore} ${store.code}`}
                    disabled={busy}
                    onClick={() =>
                      setStatusOf(store, store.status === "active" ? "closed" : "active")
                    }
                  >
                    {store.status === "active" ? t.closeStore : t.reopenStore}
                  </button>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && stores.length === 0 && <p>{t.none}</p>}
      {next && (
        <button
          type="button"
          className="secondary"
          disabled={busy}
          onClick={() =>
            run(async () => {
              const page = await api.get<Page<Store>>(
                `${base}/stores${query({ ...filter, limit: 50, cursor: next })}`,
              );
              setMore({ stores: [...(more?.stores ?? []), ...page.data], cursor: page.nextCursor });
            })
          }
        >
          {t.loadMore}
        </button>
      )}
      {canWrite && (
        <Card title={editing ? fill(t.editStore, { code: editing }) : t.newStore}>
          <form
            onSubmit={(event) => {
              event.preventDefault();
              save();
            }}
          >
            <div className="row">
              {!editing && (
                <Field
                  label={t.storeCode}
                  value={draft.code}
                  onChange={(code) => setDraft({ ...draft, code })}
                  hint={t.storeCodeHint}
                  error={errors.code}
                  required
                />
              )}
              <Field
                label={t.name}
                value={draft.name}
                onChange={(name) => setDraft({ ...draft, name })}
                error={errors.name}
                required
              />
              <Field
                label={t.city}
                value={draft.city}
                onChange={(city) => setDraft({ ...draft, city })}
                error={errors.city}
              />
              <Field
                label={t.address}
                value={draft.address}
                onChange={(address) => setDraft({ ...draft, address })}
                error={errors.address}
              />
              <Field
                label={t.storeTimezone}
                value={draft.timezone}
                onChange={(timezone) => setDraft({ ...draft, timezone })}
                hint={program.data ? fill(t.programTimezone, { zone: program.data.timezone }) : ""}
                error={errors.timezone}
              />
              <Select
                label={t.channel}
                value={draft.channel}
                options={(["pos", "webshop", "mobile"] as const).map((channel) => ({
                  value: channel,
                  label: t[`channel_${channel}`],
                }))}
                onChange={(channel) => setDraft({ ...draft, channel })}
              />
            </div>
            <div className="row">
              <button type="submit" disabled={busy}>
                {t.save}
              </button>
              {editing && (
                <button
                  type="button"
                  className="secondary"
                  onClick={() => {
                    setEditing(null);
                    setDraft(emptyDraft);
                  }}
                >
                  {t.cancel}
                </button>
              )}
            </div>
          </form>
        </Card>
      )}
      <Card title={t.unregisteredStores}>
        <p className="hint">{t.unregisteredHint}</p>
        <ErrorNote error={unregistered.error} />
        {unregistered.data?.data.length === 0 && <p>{t.none}</p>}
        <ul>
          {unregistered.data?.data.map((item) => (
            <li key={item.code} className="row">
              <span>
                <code>{item.code}</code> ·{" "}
                {fill(t.seenPurchases, {
                  purchases: formatNumber(item.figures.purchases, locale),
                  days: item.figures.days,
                })}
              </span>
              {canWrite && (
                <button
                  type="button"
                  disabled={busy}
                  aria-label={`${t.register} ${item.code}`}
                  onClick={() => register(item.code)}
                >
                  {t.register}
                </button>
              )}
            </li>
          ))}
        </ul>
      </Card>
    </>
  );
}

/**
 * Picks a cashier's stores from the registry (active ones): a search and a check box per store,
 * the picked ones always shown.
 */
export function StorePicker(props: { value: string[]; onChange: (codes: string[]) => void }) {
  const { api, programId, t } = useSession();
  const [search, setSearch] = useState("");
  const found = useLoad(
    () =>
      api.get<Page<Store>>(
        `/v1/programs/${programId}/stores${query({ status: "active", figures: "false", q: search.trim(), limit: 50 })}`,
      ),
    [programId, search],
  );
  const shown = found.data?.data ?? [];
  const picked = props.value.filter((code) => !shown.some((store) => store.code === code));
  const toggle = (code: string, on: boolean) =>
    props.onChange(on ? [...props.value, code] : props.value.filter((c) => c !== code));
  return (
    <fieldset>
      <legend>{t.cashierStores}</legend>
      <Field label={t.searchStores} value={search} onChange={setSearch} />
      <ErrorNote error={found.error} />
      {found.data && shown.length === 0 && search === "" && <p className="hint">{t.noStoresYet}</p>}
      {picked.map((code) => (
        <Check key={code} label={code} checked onChange={() => toggle(code, false)} />
      ))}
      {shown.map((store) => (
        <Check
          key={store.code}
          label={`${store.name} (${store.code})`}
          checked={props.value.includes(store.code)}
          onChange={(on) => toggle(store.code, on)}
        />
      ))}
    </fieldset>
  );
}
