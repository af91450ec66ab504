import { z } from "zod";
import type { Ctx } from "../../context.ts";
import { DomainError } from "../../lib/errors.ts";
import { emit } from "../outbox/index.ts";
import { getProgram } from "../programs/index.ts";

export const logoBytesMax = 512 * 1024;
export const tones = ["friendly", "formal", "playful"] as const;

const colour = z.string().regex(/^#[0-9a-fA-F]{6}$/, { message: "a colour is #rrggbb" });
const colorsSchema = z
  .object({ primary: colour, secondary: colour, background: colour, text: colour })
  .partial()
  .strict();

const defaultColors = {
  primary: "#0f766e",
  secondary: "#f59e0b",
  background: "#ffffff",
  text: "#111827",
};

export const brandingUpdateSchema = z
  .object({
    name: z.string().trim().min(1).max(120).nullable(),
    colors: colorsSchema,
    tone: z.enum(tones),
    locale: z.enum(["id", "en"]).nullable(),
  })
  .partial()
  .strict()
  .refine((value) => Object.keys(value).length > 0, { message: "nothing to update" });

export const brandingSchema = z.object({
  programId: z.string(),
  name: z.string(),
  logoUrl: z.string().nullable(),
  colors: z.object({
    primary: z.string(),
    secondary: z.string(),
    background: z.string(),
    text: z.string(),
  }),
  tone: z.enum(tones),
  locale: z.enum(["id", "en"]),
});
export type BrandingView = z.infer<typeof brandingSchema>;

/** Branding falls back to the program's own name and locale and to Setia's colours. */
export async function getBranding(ctx: Ctx, programId: string): Promise<BrandingView> {
  const program = await getProgram(ctx.db.kysely, programId);
  const row = await ctx.db.kysely
    .selectFrom("program_branding")
    .select(["display_name", "colors", "tone", "locale", "logo_type", "updated_at"])
    .where("program_id", "=", programId)
    .executeTakeFirst();
  return {
    programId,
    name: row?.display_name ?? program.name,
    logoUrl: row?.logo_type
      ? `/v1/portal/${programId}/logo?v=${row.updated_at.getTime().toString(36)}`
      : null,
    colors: { ...defaultColors, ...(row?.colors ?? {}) },
    tone: (row?.tone as BrandingView["tone"] | undefined) ?? "friendly",
    locale: (row?.locale ?? program.locale) as BrandingView["locale"],
  };
}

interface BrandingChange {
  display_name?: string | null;
  colors?: Record<string, string>;
  tone?: string;
  locale?: string | null;
  logo?: Buffer;
  logo_type?: string;
}

async function saveBranding(
  ctx: Ctx,
  programId: string,
  change: BrandingChange,
): Promise<BrandingView> {
  await getProgram(ctx.db.kysely, programId);
  const now = ctx.clock.now();
  await ctx.db.transaction(async (tx) => {
    const current = await tx
      .selectFrom("program_branding")
      .select("colors")
      .where("program_id", "=", programId)
      .forUpdate()
      .executeTakeFirst();
    const { colors, ...rest } = change;
    const values = {
      ...rest,
      // Colours merge: setting the primary colour keeps the others.
      ...(colors && { colors: JSON.stringify({ ...(current?.colors ?? {}), ...colors }) }),
      updated_at: now,
    };
    await tx
      .insertInto("program_branding")
      .values({ program_id: programId, ...values })
      .onConflict((oc) => oc.column("program_id").doUpdateSet(values))
      .execute();
    await emit(tx, {
      programId,
      type: "program.branding_changed",
      payload: { fields: Object.keys(change).filter((key) => key !== "logo") },
      at: now,
    });
  });
  return getBranding(ctx, programId);
}

export function updateBranding(
  ctx: Ctx,
  programId: string,
  input: z.infer<typeof brandingUpdateSchema>,
): Promise<BrandingView> {
  return saveBranding(ctx, programId, {
    ...(input.name !== undefined && { display_name: input.name }),
    ...(input.colors && { colors: input.colors as Record<string, string> }),
    ...(input.tone && { tone: input.tone }),
    ...(input.locale !== undefined && { locale: input.locale }),
  });
}

/** The image type by its first bytes: the declared type of an upload is not trusted. */
function sniffImage(bytes: Buffer): "image/png" | "image/jpeg" | null {
  if (bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return "image/png";
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "image/jpeg";
  return null;
}

export function setLogo(ctx: Ctx, programId: string, bytes: Buffer): Promise<BrandingView> {
  if (bytes.length > logoBytesMax) {
    throw new DomainError("payload_too_large", `a logo is at most ${logoBytesMax} bytes`);
  }
  const type = sniffImage(bytes);
  if (!type) throw new DomainError("unsupported_media_type", "a logo is a PNG or JPEG image");
  return saveBranding(ctx, programId, { logo: bytes, logo_type: type });
}

export async function getLogo(
  ctx: Ctx,
  programId: string,
): Promise<{ bytes: Buffer; type: string } | null> {
  const row = await ctx.db.kysely
    .selectFrom("program_branding")
    .select(["logo", "logo_type"])
    .where("program_id", "=", programId)
    .executeTakeFirst();
  if (!row?.logo || !row.logo_type) return null;
  return { bytes: Buffer.from(row.logo), type: row.logo_type };
}
