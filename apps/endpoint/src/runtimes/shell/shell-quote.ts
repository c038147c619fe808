/**
 * Quotes one value for POSIX sh: everything inside single quotes is literal, and a single quote itself
 * is written as `'\''` (close, escaped quote, reopen). No character can break out of that.
 */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export class UnknownPlaceholderError extends Error {
  constructor(readonly placeholders: string[]) {
    super(
      `the command template uses ${placeholders.map((p) => `{${p}}`).join(', ')} but the task's kwargs have no ` +
        `${placeholders.length === 1 ? 'such key' : 'such keys'}`,
    );
    this.name = 'UnknownPlaceholder';
  }
}

const PLACEHOLDER = /\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Fills `{name}` placeholders from kwargs, each value shell-quoted. `{{` and `}}` stand for literal braces
 * (as in Python's str.format, which Globus Compute's ShellFunction uses), so `${{HOME}}` reaches the
 * shell as `${HOME}`. Other braces (`awk '{print $1}'`) are left alone.
 */
export function renderCommand(template: string, kwargs: Record<string, unknown>): string {
  const missing = new Set<string>();
  const rendered = template.replace(PLACEHOLDER, (match, name: string | undefined) => {
    if (match === '{{') return '{';
    if (match === '}}') return '}';
    const key = name as string;
    if (!Object.prototype.hasOwnProperty.call(kwargs, key)) {
      missing.add(key);
      return match;
    }
    const value = kwargs[key];
    return shellQuote(
      typeof value === 'string' ? value : value === undefined || value === null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value),
    );
  });
  if (missing.size > 0) throw new UnknownPlaceholderError([...missing]);
  return rendered;
}
