import type { Ctx } from "../context.ts";

/** Placeholder replaced by the demo generator. */
export async function seedDemo(
  _ctx: Ctx,
  _options: { members: number; seed: number },
): Promise<unknown> {
  throw new Error("not yet");
}
