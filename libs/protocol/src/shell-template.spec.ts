import { shellTemplateProblem } from './shell-template.js';

describe('shellTemplateProblem', () => {
  it.each([
    'echo {x}',
    'echo --opt={x}',
    'echo {x}{y}',
    'echo a{x}b',
    "awk '{print $1}' {f}",
    'echo ${{HOME}} {x}',
    'echo "hi "{x}',
    '( echo {x} )',
    'cat <<< {x}',
    `echo 'a' {x} "b"`,
    'echo {x} # "{y}',
    'cat <<EOF\nhello\nEOF\necho {x}',
    'sleep {s}; echo done',
  ])('accepts a placeholder in a plain word: %j', (template) => {
    expect(shellTemplateProblem(template)).toBeUndefined();
  });

  it.each([
    'echo "hello {x}"',
    "echo '{x}'",
    'echo `{x}`',
    'echo $(echo {x})',
    'echo ${a:-{x}}',
    'echo \\{x}',
    'cat <<EOF\n{x}\nEOF',
    'echo "$(echo {x})"',
    'cat <<-EOF\n\t{x}\n\tEOF',
  ])('refuses a placeholder inside quotes, backticks, $(…), ${…}, after a backslash or in a here-document: %j', (template) => {
    expect(shellTemplateProblem(template)).toMatch(/put placeholders outside quotes/);
  });
});
