/** Builds dist/web when web/ changed; resolves true when it built. See ensure-built.mjs. */
export function ensureWebBuilt(options?: { quiet?: boolean }): Promise<boolean>;
