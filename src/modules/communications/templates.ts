import Mustache from "mustache";
import { DomainError } from "../../lib/errors.ts";
import { currencyDigits } from "../../lib/money.ts";
import type { MessageCategory } from "./tables.ts";

/** What starts a message; each has a category that decides which gates it passes at send time. */
export const triggerCategories = {
  welcome: "service",
  one_time_code: "security",
  points_earned: "service",
  points_released: "service",
  reward_redeemed: "service",
  tier_changed: "service",
  points_expiring: "marketing",
  birthday: "marketing",
  referral_completed: "service",
  winback: "marketing",
} as const satisfies Record<string, MessageCategory>;
export type Trigger = keyof typeof triggerCategories;
export const triggers = Object.keys(triggerCategories) as [Trigger, ...Trigger[]];

export const locales = ["id", "en"] as const;
export type Locale = (typeof locales)[number];
export const tones = ["friendly", "formal"] as const;
export type Tone = (typeof tones)[number];

export interface TemplateText {
  subject: string;
  body: string;
}

/**
 * Built-in texts. {{greeting}} and {{signoff}} carry the brand tone, so one text per trigger and
 * language serves both tones; a program overrides any of them.
 */
export const builtinTemplates: Record<Trigger, Record<Locale, TemplateText>> = {
  welcome: {
    id: {
      subject: "Selamat datang di {{program.name}}",
      body: "{{greeting}}\n\nTerima kasih sudah bergabung dengan {{program.name}}. Setiap belanja kini menambah poin Anda, dan poin bisa ditukar dengan hadiah.\n\n{{signoff}}",
    },
    en: {
      subject: "Welcome to {{program.name}}",
      body: "{{greeting}}\n\nThank you for joining {{program.name}}. Every purchase now earns you points that you can exchange for rewards.\n\n{{signoff}}",
    },
  },
  one_time_code: {
    id: {
      subject: "Kode masuk {{program.name}}: {{code}}",
      body: "Kode masuk {{program.name}} Anda: {{code}}\n\nBerlaku beberapa menit. Jangan berikan kode ini kepada siapa pun, termasuk petugas toko.",
    },
    en: {
      subject: "Your {{program.name}} sign-in code: {{code}}",
      body: "Your {{program.name}} sign-in code: {{code}}\n\nIt is valid for a few minutes. Never share it with anyone, shop staff included.",
    },
  },
  points_earned: {
    id: {
      subject: "Anda mendapat {{points}} poin",
      body: "{{greeting}}\n\n{{#pending}}{{points}} poin dari belanja Anda sudah tercatat dan bisa dipakai mulai {{availableAt}}.{{/pending}}{{^pending}}Anda mendapat {{points}} poin dari belanja Anda. Saldo poin Anda sekarang {{balance}}.{{/pending}}\n\n{{signoff}}",
    },
    en: {
      subject: "You earned {{points}} points",
      body: "{{greeting}}\n\n{{#pending}}{{points}} points from your purchase are recorded and can be used from {{availableAt}}.{{/pending}}{{^pending}}You earned {{points}} points with your purchase. Your balance is now {{balance}} points.{{/pending}}\n\n{{signoff}}",
    },
  },
  points_released: {
    id: {
      subject: "{{points}} poin Anda sudah bisa dipakai",
      body: "{{greeting}}\n\n{{points}} poin dari belanja Anda sekarang bisa ditukar. Saldo poin Anda: {{balance}}.\n\n{{signoff}}",
    },
    en: {
      subject: "{{points}} points are ready to use",
      body: "{{greeting}}\n\n{{points}} points from your purchase can now be redeemed. Your balance: {{balance}} points.\n\n{{signoff}}",
    },
  },
  reward_redeemed: {
    id: {
      subject: "Penukaran berhasil: {{reward.name}}",
      body: "{{greeting}}\n\nAnda menukar {{points}} poin dengan {{reward.name}}. Sisa saldo poin Anda: {{balance}}.\n\n{{signoff}}",
    },
    en: {
      subject: "Redeemed: {{reward.name}}",
      body: "{{greeting}}\n\nYou exchanged {{points}} points for {{reward.name}}. Your balance: {{balance}} points.\n\n{{signoff}}",
    },
  },
  tier_changed: {
    id: {
      subject:
        "{{#tier.up}}Selamat, Anda naik ke {{tier.name}}{{/tier.up}}{{^tier.up}}Level Anda sekarang {{tier.name}}{{/tier.up}}",
      body: "{{greeting}}\n\n{{#tier.up}}Belanja Anda membawa Anda ke level {{tier.name}}. Nikmati keuntungan barunya!{{/tier.up}}{{^tier.up}}Level keanggotaan Anda sekarang {{tier.name}}. Belanja lagi untuk naik level kembali.{{/tier.up}}\n\n{{signoff}}",
    },
    en: {
      subject:
        "{{#tier.up}}Congratulations, you reached {{tier.name}}{{/tier.up}}{{^tier.up}}Your level is now {{tier.name}}{{/tier.up}}",
      body: "{{greeting}}\n\n{{#tier.up}}Your purchases took you to the {{tier.name}} level. Enjoy its benefits!{{/tier.up}}{{^tier.up}}Your membership level is now {{tier.name}}. Shop again to move back up.{{/tier.up}}\n\n{{signoff}}",
    },
  },
  points_expiring: {
    id: {
      subject: "{{points}} poin Anda hangus pada {{expiresAt}}",
      body: "{{greeting}}\n\n{{points}} poin Anda akan hangus pada {{expiresAt}}. Tukarkan sebelum terlambat! Saldo poin Anda: {{balance}}.\n\n{{signoff}}",
    },
    en: {
      subject: "{{points}} of your points expire on {{expiresAt}}",
      body: "{{greeting}}\n\n{{points}} of your points expire on {{expiresAt}}. Redeem them before they are gone! Your balance: {{balance}} points.\n\n{{signoff}}",
    },
  },
  birthday: {
    id: {
      subject: "Selamat ulang tahun dari {{program.name}}!",
      body: "{{greeting}}\n\nSelamat ulang tahun! Semoga hari Anda menyenangkan. Mampirlah ke toko kami untuk merayakannya.\n\n{{signoff}}",
    },
    en: {
      subject: "Happy birthday from {{program.name}}!",
      body: "{{greeting}}\n\nHappy birthday! We hope you have a wonderful day. Come by our shop to celebrate.\n\n{{signoff}}",
    },
  },
  referral_completed: {
    id: {
      subject: "Terima kasih sudah mengajak teman",
      body: "{{greeting}}\n\nTeman yang Anda ajak sudah bergabung dengan {{program.name}}.{{#points}} Anda mendapat {{points}} poin.{{/points}} Saldo poin Anda: {{balance}}.\n\n{{signoff}}",
    },
    en: {
      subject: "Thank you for inviting a friend",
      body: "{{greeting}}\n\nThe friend you invited has joined {{program.name}}.{{#points}} You earned {{points}} points.{{/points}} Your balance: {{balance}} points.\n\n{{signoff}}",
    },
  },
  winback: {
    id: {
      subject: "Kami rindu Anda di {{program.name}}",
      body: "{{greeting}}\n\nSudah {{days}} hari Anda tidak berbelanja di {{program.name}}. Saldo {{balance}} poin Anda masih menunggu. Sampai jumpa lagi!\n\n{{signoff}}",
    },
    en: {
      subject: "We miss you at {{program.name}}",
      body: "{{greeting}}\n\nIt has been {{days}} days since your last visit to {{program.name}}. Your {{balance}} points are waiting for you. See you soon!\n\n{{signoff}}",
    },
  },
};

/** The names a template may use; anything else is refused when the template is saved. */
export const templateVariables = [
  "member.name",
  "member.firstName",
  "program.name",
  "points",
  "balance",
  "expiresAt",
  "availableAt",
  "pending",
  "days",
  "tier.name",
  "tier.up",
  "reward.name",
  "amount",
  "code",
  "greeting",
  "signoff",
  "unsubscribeUrl",
] as const;

type Token = [string, string, number, number, Token[]?];

/** Parses a template and refuses syntax errors and unknown variables (a typo would render empty). */
export function checkTemplate(text: string, field: "subject" | "body"): void {
  let tokens: Token[];
  try {
    tokens = Mustache.parse(text) as unknown as Token[];
  } catch (error) {
    throw new DomainError("validation_failed", `${field}: ${(error as Error).message}`, { field });
  }
  const unknown = new Set<string>();
  const walk = (list: Token[]) => {
    for (const [kind, name, , , children] of list) {
      if (kind === "partial" || kind === ">" || kind === "=") {
        throw new DomainError(
          "validation_failed",
          `${field}: partials and delimiters are not allowed`,
          {
            field,
          },
        );
      }
      if (
        ["name", "&", "#", "^"].includes(kind) &&
        !(templateVariables as readonly string[]).includes(name)
      ) {
        unknown.add(name);
      }
      if (children) walk(children);
    }
  };
  walk(tokens);
  if (unknown.size > 0) {
    throw new DomainError(
      "validation_failed",
      `${field}: unknown variable ${[...unknown].map((name) => `{{${name}}}`).join(", ")}`,
      { field, unknown: [...unknown], allowed: templateVariables },
    );
  }
}

export interface RenderedMessage {
  subject: string;
  text: string;
  /** Only for email: the body with every variable HTML-escaped, in a minimal layout. */
  html: string;
}

const plain = (value: unknown) => String(value);

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/**
 * Templates are plain text. The HTML part of an email is that text escaped as a whole (the
 * template's own words and every variable), so neither a member's name nor a template can inject
 * markup; only the layout around it and the footer link are HTML.
 */
export function render(
  template: TemplateText,
  view: Record<string, unknown>,
  footer: { text: string; url: string } | null,
): RenderedMessage {
  const subject = Mustache.render(template.subject, view, {}, { escape: plain }).trim();
  const text = Mustache.render(template.body, view, {}, { escape: plain }).trim();
  const paragraphs = escapeHtml(text)
    .split(/\n{2,}/)
    .map((paragraph) => `<p>${paragraph.replace(/\n/g, "<br>")}</p>`)
    .join("\n");
  const footerHtml = footer
    ? `<p style="font-size:12px;color:#666"><a href="${escapeHtml(footer.url)}">${escapeHtml(footer.text)}</a></p>\n`
    : "";
  return {
    subject,
    text: footer ? `${text}\n\n${footer.text}: ${footer.url}` : text,
    html: `<!doctype html>\n<html><body style="font-family:sans-serif;line-height:1.5">\n${paragraphs}\n${footerHtml}</body></html>`,
  };
}

/** Locale-aware formatting of numbers, money and dates, dates in the program's timezone. */
export class Formatter {
  readonly #numbers: Intl.NumberFormat;
  readonly #dates: Intl.DateTimeFormat;
  constructor(
    readonly locale: Locale,
    readonly timezone: string,
    readonly currency: string,
  ) {
    const tag = locale === "id" ? "id-ID" : "en-GB";
    this.#numbers = new Intl.NumberFormat(tag);
    this.#dates = new Intl.DateTimeFormat(tag, { dateStyle: "long", timeZone: timezone });
  }
  number(value: number): string {
    return this.#numbers.format(value);
  }
  /** Whole amounts without decimals, as prices are written in Indonesia: Rp 250.000. */
  money(minor: number): string {
    const digits = currencyDigits(this.currency);
    const whole = minor % 10 ** digits === 0;
    return new Intl.NumberFormat(this.locale === "id" ? "id-ID" : "en-GB", {
      style: "currency",
      currency: this.currency,
      minimumFractionDigits: whole ? 0 : digits,
      maximumFractionDigits: digits,
    })
      .format(minor / 10 ** digits)
      .replace(/\u00a0/g, " ");
  }
  date(at: Date | string): string {
    return this.#dates.format(new Date(at));
  }
}

const greetings: Record<
  Locale,
  Record<Tone, { named: string; anonymous: string; signoff: string }>
> = {
  id: {
    friendly: { named: "Hai {{first}}!", anonymous: "Hai!", signoff: "Salam hangat,\n{{program}}" },
    formal: {
      named: "Yth. Bapak/Ibu {{name}},",
      anonymous: "Yth. Pelanggan,",
      signoff: "Hormat kami,\n{{program}}",
    },
  },
  en: {
    friendly: { named: "Hi {{first}}!", anonymous: "Hi there!", signoff: "Cheers,\n{{program}}" },
    formal: {
      named: "Dear {{name}},",
      anonymous: "Dear customer,",
      signoff: "Kind regards,\n{{program}}",
    },
  },
};

/** The greeting and sign-off of a message in the brand's tone. */
export function toneLines(
  locale: Locale,
  tone: Tone,
  name: string | null,
  programName: string,
): { greeting: string; signoff: string } {
  const lines = greetings[locale][tone];
  const first = name?.split(/\s+/)[0] ?? "";
  return {
    greeting: name
      ? lines.named.replace("{{first}}", first).replace("{{name}}", name)
      : lines.anonymous,
    signoff: lines.signoff.replace("{{program}}", programName),
  };
}
