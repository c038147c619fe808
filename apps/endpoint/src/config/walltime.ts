// Slurm's time formats. Here rather than under providers/slurm because config.yaml's `slurm.walltime` is
// validated with them, and config modules import no provider.

/** Seconds → Slurm's `[D-]HH:MM:SS`. */
export function formatWalltime(seconds: number): string {
  const s = Math.max(60, Math.ceil(seconds));
  const days = Math.floor(s / 86_400);
  const rest = s % 86_400;
  const hh = String(Math.floor(rest / 3600)).padStart(2, '0');
  const mm = String(Math.floor((rest % 3600) / 60)).padStart(2, '0');
  const ss = String(rest % 60).padStart(2, '0');
  return `${days > 0 ? `${days}-` : ''}${hh}:${mm}:${ss}`;
}

/** Slurm's time formats (`MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`) → seconds. */
export function parseWalltime(text: string): number | undefined {
  const m = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(text.trim());
  if (!m) return undefined;
  const [, d, a, b, c] = m;
  const n = (v: string | undefined) => (v === undefined ? 0 : Number(v));
  if (d !== undefined) return n(d) * 86_400 + n(a) * 3600 + n(b) * 60 + n(c);
  if (c !== undefined) return n(a) * 3600 + n(b) * 60 + n(c);
  if (b !== undefined) return n(a) * 60 + n(b);
  return n(a) * 60;
}
