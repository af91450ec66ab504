/**
 * Readable colours from a program's brand colours (docs/decisions/0062): the brand colours stay
 * as given where they fill areas; every text and focus colour drawn on them is chosen or nudged
 * until it reaches the WCAG AA contrast ratio, whatever the brand picked.
 */
export interface BrandColors {
  primary: string;
  secondary: string;
  background: string;
  text: string;
}

type Rgb = [number, number, number];

const black = "#000000";
const white = "#ffffff";
/** WCAG AA: 4.5:1 for text, 3:1 for focus indicators and other non-text marks. */
export const textRatioMin = 4.5;
export const markRatioMin = 3;

function rgb(hex: string): Rgb {
  const value = Number.parseInt(hex.replace("#", ""), 16);
  return [(value >> 16) & 255, (value >> 8) & 255, value & 255];
}

function hex([r, g, b]: Rgb): string {
  return `#${((1 << 24) | (r << 16) | (g << 8) | b).toString(16).slice(1)}`;
}

/** Relative luminance as WCAG 2 defines it. */
export function luminance(colour: string): number {
  const [r, g, b] = rgb(colour).map((channel) => {
    const c = channel / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }) as Rgb;
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function contrast(a: string, b: string): number {
  const [high, low] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (high + 0.05) / (low + 0.05);
}

/** `from` moved towards `to` by `share` (0–1), channel by channel. */
function mix(from: string, to: string, share: number): string {
  const a = rgb(from);
  const b = rgb(to);
  return hex(
    a.map((channel, i) => Math.round(channel + ((b[i] as number) - channel) * share)) as Rgb,
  );
}

/** Black or white, whichever reads better on the colour. */
function extreme(ground: string): string {
  return contrast(black, ground) >= contrast(white, ground) ? black : white;
}

/**
 * The colour itself when it reaches `ratio` against every ground, otherwise the first shade on
 * the way to black (light grounds) or white (dark grounds) that does: the hue stays recognisable.
 */
export function readable(colour: string, grounds: string[], ratio = textRatioMin): string {
  const target = extreme(grounds[0] ?? white);
  for (let step = 0; step <= 20; step += 1) {
    const candidate = mix(colour, target, step / 20);
    if (grounds.every((ground) => contrast(candidate, ground) >= ratio)) return candidate;
  }
  return target;
}

/** Text on a filled colour: white when it reads, else black (one of them always reaches 4.5:1). */
export function textOn(fill: string): string {
  return contrast(white, fill) >= textRatioMin ? white : extreme(fill);
}

/** The CSS variables the stylesheets read, derived from the brand colours. */
export function palette(colors: BrandColors): Record<string, string> {
  const background = colors.background;
  const light = extreme(background) === black;
  // Cards sit on the page: white on a light page, a slightly lighter shade on a dark one.
  const lifted = mix(background, white, 0.08);
  const surface = light ? white : contrast(white, lifted) >= 7 ? lifted : background;
  const grounds = [background, surface];
  const text = readable(colors.text, grounds);
  return {
    "--primary": colors.primary,
    "--on-primary": textOn(colors.primary),
    "--primary-text": readable(colors.primary, grounds),
    "--secondary": colors.secondary,
    "--focus": readable(colors.secondary, grounds, markRatioMin),
    "--bg": background,
    "--surface": surface,
    "--text": text,
    "--muted": readable(mix(text, surface, 0.3), grounds),
    "--danger": readable("#b00020", grounds),
    "--ok": readable("#1d6b35", grounds),
  };
}
