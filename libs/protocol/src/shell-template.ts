/**
 * Where a shell (or mpi) command template may place its `{name}` placeholders. Each value is quoted for
 * the shell as one word (single quotes), which is safe only where the shell reads a plain word: inside
 * double quotes, backticks, `$(…)`, `${…}` or a here-document the quotes are literal and `$(…)` or
 * backticks in a value would run. Templates that put a placeholder there are refused (at registration
 * by the server, again by the agent before it runs one) rather than rendered in a way that looks safe.
 */

type Item = { ph: string } | { c: string };
type Context = 'single quotes' | 'double quotes' | 'backticks' | '$(…)' | '${…}' | '(…)';

/** Splits a template into characters and placeholders; `{{` and `}}` are literal braces. */
function tokenize(template: string): Item[] {
  const items: Item[] = [];
  const re = /\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/y;
  for (let i = 0; i < template.length;) {
    re.lastIndex = i;
    const m = re.exec(template);
    if (m) {
      items.push(m[0] === '{{' ? { c: '{' } : m[0] === '}}' ? { c: '}' } : { ph: m[1] as string });
      i += m[0].length;
    } else {
      items.push({ c: template[i] as string });
      i++;
    }
  }
  return items;
}

const refusal = (name: string, where: string) =>
  `the command template places {${name}} ${where}; put placeholders outside quotes, backticks, $(…), \${…} and here-documents ` +
  `(FX quotes each value for the shell itself: write echo "hello "{${name}} or echo hello {${name}}, not echo "hello {${name}}")`;

/** Why the template is unsafe to fill, as one sentence, or undefined when every placeholder is a plain word. */
export function shellTemplateProblem(template: string): string | undefined {
  const items = tokenize(template);
  const stack: Context[] = [];
  const ch = (i: number) => {
    const item = items[i];
    return item && 'c' in item ? item.c : undefined;
  };
  let pendingHeredocs: Array<{ delimiter: string; stripTabs: boolean }> = [];
  let wordStart = true;
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as Item;
    const top = stack[stack.length - 1];
    if ('ph' in item) {
      if (top !== undefined && top !== '(…)') return refusal(item.ph, `inside ${top}`);
      if (stack.includes('$(…)') || stack.includes('${…}')) return refusal(item.ph, 'inside $(…) or ${…}');
      wordStart = false;
      continue;
    }
    const c = item.c;
    if (top === 'single quotes') {
      if (c === "'") stack.pop();
      continue;
    }
    if (c === '\\') {
      const next = items[i + 1];
      if (next && 'ph' in next) return refusal(next.ph, 'right after a backslash');
      i++;
      wordStart = false;
      continue;
    }
    if (top === 'double quotes' || top === 'backticks') {
      if ((c === '"' && top === 'double quotes') || (c === '`' && top === 'backticks')) stack.pop();
      else if (c === '`') stack.push('backticks');
      else if (c === '$' && (ch(i + 1) === '(' || ch(i + 1) === '{')) stack.push(ch(++i) === '(' ? '$(…)' : '${…}');
      continue;
    }
    // Unquoted: at the top level, or inside $(…), ${…} or a subshell.
    if (c === "'") stack.push('single quotes');
    else if (c === '"') stack.push('double quotes');
    else if (c === '`') stack.push('backticks');
    else if (c === '$' && (ch(i + 1) === '(' || ch(i + 1) === '{')) stack.push(ch(++i) === '(' ? '$(…)' : '${…}');
    else if (c === '(') stack.push('(…)');
    else if (c === ')' && (top === '$(…)' || top === '(…)')) stack.pop();
    else if (c === '}' && top === '${…}') stack.pop();
    else if (c === '#' && wordStart) {
      while (i + 1 < items.length && ch(i + 1) !== '\n') i++;
      continue;
    } else if (c === '<' && ch(i + 1) === '<' && ch(i + 2) === '<') {
      i += 2; // a here-string: its word is an ordinary word
    } else if (c === '<' && ch(i + 1) === '<') {
      // A here-document: its body (from the next newline) expands $(…) and backticks whatever quotes it holds.
      i += 2;
      const stripTabs = ch(i) === '-';
      if (stripTabs) i++;
      while (ch(i) === ' ' || ch(i) === '\t') i++;
      let delimiter = '';
      for (; i < items.length; i++) {
        const d = ch(i);
        if (d === undefined) return refusal((items[i] as { ph: string }).ph, 'as a here-document delimiter');
        if (/[\s;&|<>()]/.test(d)) break;
        if (d !== "'" && d !== '"' && d !== '\\') delimiter += d;
      }
      i--;
      pendingHeredocs.push({ delimiter, stripTabs });
    } else if (c === '\n' && pendingHeredocs.length > 0) {
      for (const heredoc of pendingHeredocs) {
        // Read lines until the delimiter line; any placeholder before it is in the body.
        for (;;) {
          let line = '';
          let j = i + 1;
          for (; j < items.length && ch(j) !== '\n'; j++) {
            const it = items[j] as Item;
            if ('ph' in it) return refusal(it.ph, 'inside a here-document');
            line += it.c;
          }
          i = j;
          if ((heredoc.stripTabs ? line.replace(/^\t+/, '') : line) === heredoc.delimiter || j >= items.length) break;
        }
      }
      pendingHeredocs = [];
    }
    wordStart = /[\s;&|()]/.test(c);
  }
  return undefined;
}
