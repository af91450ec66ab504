import { useState } from "react";
import { formatDate } from "../../shared/i18n.ts";
import { Card, Check, ErrorNote, Field, Select, useAction, useLoad } from "../../shared/ui.tsx";
import { emptyArgs, type JsonSchema, localInput, SchemaForm } from "../schema-form.tsx";
import { adminPath, useSession } from "../session.ts";

interface RegistryType {
  code: string;
  description: string;
  argsSchema: JsonSchema;
}
interface Registry {
  conditions: RegistryType[];
  actions: RegistryType[];
}
interface Step {
  type: string;
  args: Record<string, unknown>;
}
interface Rule {
  id?: string;
  description?: string | null;
  trigger: string;
  conditions: Step[];
  actions: Step[];
}
interface Campaign {
  id: string;
  name: string;
  status: string;
  startsAt: string;
  endsAt: string | null;
  priority: number;
  stacking: "stack" | "first_match_wins" | "best_for_member";
  exclusive: boolean;
  rules: Rule[];
}

export function Campaigns() {
  const { api, programId, t, navigate, locale, role } = useSession();
  const list = useLoad(
    () => api.get<{ data: Campaign[] }>(`/v1/programs/${programId}/campaigns`),
    [programId],
  );
  const canWrite = role !== "analyst" && role !== "support";
  return (
    <>
      <h1>{t.campaigns}</h1>
      {canWrite && (
        <button type="button" onClick={() => navigate(adminPath("campaigns/new"))}>
          {t.newCampaign}
        </button>
      )}
      <ErrorNote error={list.error} />
      <table>
        <thead>
          <tr>
            <th>{t.name}</th>
            <th>{t.status}</th>
            <th>{t.startsAt}</th>
            <th>{t.priority}</th>
          </tr>
        </thead>
        <tbody>
          {list.data?.data.map((campaign) => (
            <tr key={campaign.id}>
              <td>
                <a
                  href={adminPath(`campaigns/${campaign.id}`)}
                  onClick={(event) => {
                    event.preventDefault();
                    navigate(adminPath(`campaigns/${campaign.id}`));
                  }}
                >
                  {campaign.name}
                </a>
              </td>
              <td>{campaign.status}</td>
              <td>{formatDate(campaign.startsAt, locale)}</td>
              <td>{campaign.priority}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function StepList(props: {
  title: string;
  addLabel: string;
  removeLabel: string;
  types: RegistryType[];
  steps: Step[];
  onChange: (steps: Step[]) => void;
}) {
  const first = props.types[0];
  return (
    <fieldset>
      <legend>{props.title}</legend>
      {props.steps.map((step, index) => {
        const type = props.types.find((candidate) => candidate.code === step.type);
        const replace = (next: Step) =>
          props.onChange(props.steps.map((old, i) => (i === index ? next : old)));
        return (
          // biome-ignore lint/suspicious/noArrayIndexKey: steps have no id of their own
          <div className="step" key={index}>
            <Select
              label={`${props.title} ${index + 1}`}
              value={step.type}
              options={props.types.map((candidate) => ({
                value: candidate.code,
                label: `${candidate.code} — ${candidate.description}`,
              }))}
              onChange={(code) => {
                const chosen = props.types.find((candidate) => candidate.code === code);
                replace({ type: code, args: chosen ? emptyArgs(chosen.argsSchema) : {} });
              }}
            />
            {type && (
              <SchemaForm
                schema={type.argsSchema}
                value={step.args}
                onChange={(args) => replace({ ...step, args })}
              />
            )}
            <button
              type="button"
              className="secondary"
              onClick={() => props.onChange(props.steps.filter((_, i) => i !== index))}
            >
              {props.removeLabel}
            </button>
          </div>
        );
      })}
      {first && (
        <button
          type="button"
          className="secondary"
          onClick={() =>
            props.onChange([
              ...props.steps,
              { type: first.code, args: emptyArgs(first.argsSchema) },
            ])
          }
        >
          {props.addLabel}
        </button>
      )}
    </fieldset>
  );
}

/** The campaign editor: every condition and action form comes from GET /v1/rule-registry. */
export function CampaignEditor({ campaignId }: { campaignId: string }) {
  const { api, programId, t, navigate } = useSession();
  const isNew = campaignId === "new";
  const registry = useLoad(() => api.get<Registry>("/v1/rule-registry"), []);
  const [draft, setDraft] = useState<Campaign | null>(null);
  const existing = useLoad(
    async () =>
      isNew
        ? null
        : api.get<Campaign>(`/v1/programs/${programId}/campaigns/${campaignId}`).then((c) => {
            setDraft(c);
            return c;
          }),
    [campaignId],
  );
  const [run, busy, error] = useAction();
  const campaign: Campaign = draft ?? {
    id: "",
    name: "",
    status: "draft",
    startsAt: new Date().toISOString(),
    endsAt: null,
    priority: 0,
    stacking: "stack",
    exclusive: false,
    rules: [{ trigger: "purchase", conditions: [], actions: [] }],
  };
  const update = (change: Partial<Campaign>) => setDraft({ ...campaign, ...change });
  const updateRule = (index: number, change: Partial<Rule>) =>
    update({
      rules: campaign.rules.map((rule, i) => (i === index ? { ...rule, ...change } : rule)),
    });
  if (!registry.data) return <ErrorNote error={registry.error ?? existing.error} />;
  const save = (status?: string) =>
    run(async () => {
      const body = {
        name: campaign.name,
        startsAt: campaign.startsAt,
        endsAt: campaign.endsAt || null,
        priority: campaign.priority,
        stacking: campaign.stacking,
        exclusive: campaign.exclusive,
        rules: campaign.rules.map((rule) => ({
          ...(rule.id && { id: rule.id }),
          ...(rule.description && { description: rule.description }),
          trigger: rule.trigger,
          conditions: rule.conditions,
          actions: rule.actions,
        })),
        ...(status && { status }),
      };
      const saved = isNew
        ? await api.post<Campaign>(`/v1/programs/${programId}/campaigns`, body)
        : await api.patch<Campaign>(`/v1/programs/${programId}/campaigns/${campaignId}`, body);
      setDraft(saved);
      navigate(adminPath(`campaigns/${saved.id}`));
    });
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        save();
      }}
    >
      <h1>{isNew ? t.newCampaign : campaign.name}</h1>
      <Card>
        <Field
          label={t.name}
          value={campaign.name}
          onChange={(name) => update({ name })}
          required
        />
        <div className="row">
          <Field
            label={t.startsAt}
            type="datetime-local"
            value={localInput(campaign.startsAt)}
            onChange={(value) => value && update({ startsAt: new Date(value).toISOString() })}
          />
          <Field
            label={t.endsAt}
            type="datetime-local"
            value={localInput(campaign.endsAt)}
            onChange={(value) => update({ endsAt: value ? new Date(value).toISOString() : null })}
          />
          <Field
            label={t.priority}
            type="number"
            value={String(campaign.priority)}
            onChange={(value) => update({ priority: Number(value) })}
          />
          <Select
            label={t.stacking}
            value={campaign.stacking}
            options={[
              { value: "stack", label: "stack" },
              { value: "first_match_wins", label: "first_match_wins" },
              { value: "best_for_member", label: "best_for_member" },
            ]}
            onChange={(stacking) => update({ stacking })}
          />
        </div>
        <Check
          label="exclusive"
          checked={campaign.exclusive}
          onChange={(exclusive) => update({ exclusive })}
        />
        <p>
          {t.status}: {campaign.status}
        </p>
      </Card>
      {campaign.rules.map((rule, index) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: new rules have no id yet
        <Card key={index} title={`${t.rule} ${index + 1}`}>
          <Field
            label={t.trigger}
            value={rule.trigger}
            onChange={(trigger) => updateRule(index, { trigger })}
          />
          <StepList
            title={t.conditions}
            addLabel={t.addCondition}
            removeLabel={t.remove}
            types={registry.data?.conditions ?? []}
            steps={rule.conditions}
            onChange={(conditions) => updateRule(index, { conditions })}
          />
          <StepList
            title={t.actions}
            addLabel={t.addAction}
            removeLabel={t.remove}
            types={registry.data?.actions ?? []}
            steps={rule.actions}
            onChange={(actions) => updateRule(index, { actions })}
          />
        </Card>
      ))}
      <div className="row">
        <button
          type="button"
          className="secondary"
          onClick={() =>
            update({
              rules: [...campaign.rules, { trigger: "purchase", conditions: [], actions: [] }],
            })
          }
        >
          {t.addRule}
        </button>
        <button type="submit" disabled={busy}>
          {t.save}
        </button>
        {campaign.status === "draft" && !isNew && (
          <button type="button" disabled={busy} onClick={() => save("active")}>
            active
          </button>
        )}
      </div>
      <ErrorNote error={error} />
    </form>
  );
}
