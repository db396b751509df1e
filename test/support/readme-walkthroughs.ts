// The README's walkthroughs as runnable commands: fenced blocks whose info string carries
// `walkthrough=<name>` (e.g. "```sh walkthrough=lab-cli"), joined in document order, split into the
// top-level commands a person pastes one at a time, each with the exit status its comment promises
// ("# exit 3: …"; 0 when it says nothing). Nothing here rewrites a command.

export interface WalkthroughCommand {
  /** The command as written (continuation lines, heredoc bodies and multi-line quotes included). */
  readonly text: string;
  /** 0, or the status a comment of the command names ("exit 3", "exits 1"). */
  readonly expectedExit: number;
  /** Line number in the README of its first line. */
  readonly line: number;
}

const FENCE = /^(\s*)(`{3,}|~{3,})(.*)$/;

/** The lines of every block tagged `walkthrough=<name>`, without the list indentation of their fence. */
export function extractWalkthrough(markdown: string, name: string): { text: string; line: number }[] {
  const lines = markdown.split('\n');
  const blocks: { text: string; line: number }[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const open = FENCE.exec(lines[i] as string);
    if (!open) continue;
    const [, indent = '', fence = '', info = ''] = open;
    const end = lines.findIndex((line, j) => j > i && line.trim() === fence);
    if (end === -1) throw new Error(`README line ${i + 1}: the code block never closes`);
    if (info.trim().split(/\s+/).includes(`walkthrough=${name}`)) {
      const body = lines.slice(i + 1, end).map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line.trimStart()));
      blocks.push({ text: body.join('\n'), line: i + 2 });
    }
    i = end;
  }
  return blocks;
}

interface ScanState {
  quote: '"' | "'" | undefined;
  /** Heredoc delimiters opened on the current line, in order. */
  heredocs: { word: string; stripTabs: boolean }[];
}

/** Scans one line outside heredoc bodies: quotes, heredoc openings, comments. Returns the comment. */
function scanLine(line: string, state: ScanState): { code: string; comment: string } {
  for (let i = 0; i < line.length; i += 1) {
    const char = line[i];
    if (state.quote === "'") {
      if (char === "'") state.quote = undefined;
      continue;
    }
    if (char === '\\') {
      i += 1;
      continue;
    }
    if (state.quote === '"') {
      if (char === '"') state.quote = undefined;
      continue;
    }
    if (char === '"' || char === "'") {
      state.quote = char;
      continue;
    }
    if (char === '#' && (i === 0 || /\s/.test(line[i - 1] as string))) return { code: line.slice(0, i), comment: line.slice(i + 1) };
    const heredoc = /^<<(-?)\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)\2/.exec(line.slice(i));
    if (heredoc && line[i + 2] !== '<') {
      state.heredocs.push({ word: heredoc[3] as string, stripTabs: heredoc[1] === '-' });
      i += heredoc[0].length - 1;
    }
  }
  return { code: line, comment: '' };
}

const expectedExitOf = (comments: string): number => Number(/\bexits? (\d+)\b/.exec(comments)?.[1] ?? 0);

/** Splits a block into top-level commands; comment-only lines between commands are dropped. */
export function splitCommands(block: string, firstLine = 1): WalkthroughCommand[] {
  const commands: WalkthroughCommand[] = [];
  const state: ScanState = { quote: undefined, heredocs: [] };
  let current: string[] = [];
  let comments = '';
  let start = 0;
  const lines = block.split('\n');
  for (let n = 0; n < lines.length; n += 1) {
    const line = lines[n] as string;
    if (current.length === 0 && (line.trim() === '' || line.trim().startsWith('#'))) continue;
    if (current.length === 0) start = n;
    current.push(line);
    const { code, comment } = scanLine(line, state);
    comments += ` ${comment}`;
    // Heredoc bodies follow the line that opened them, verbatim.
    while (state.heredocs.length > 0) {
      const { word, stripTabs } = state.heredocs.shift() as { word: string; stripTabs: boolean };
      for (n += 1; n < lines.length; n += 1) {
        const body = lines[n] as string;
        current.push(body);
        if ((stripTabs ? body.replace(/^\t+/, '') : body) === word) break;
      }
      if (n >= lines.length) throw new Error(`the heredoc ${word} of the command at line ${firstLine + start} never ends`);
    }
    const continues = state.quote !== undefined || /(\\|\||&&)\s*$/.test(code);
    if (continues) continue;
    commands.push({ text: current.join('\n'), expectedExit: expectedExitOf(comments), line: firstLine + start });
    current = [];
    comments = '';
  }
  if (current.length > 0) throw new Error(`the command at line ${firstLine + start} does not end (an open quote or a trailing \\ or |)`);
  return commands;
}

/**
 * A bash script that runs the commands one after the other in one shell (variables and aliases
 * carry over, as in a terminal), each with its output in `<outDir>/<n>.out|.err`, its status
 * appended to `<outDir>/status`, and stops at the first status other than the expected one.
 */
export function walkthroughScript(commands: readonly WalkthroughCommand[], outDir: string): string {
  const quoted = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;
  const lines = [
    // An interactive terminal expands aliases; a script must ask for it.
    'shopt -s expand_aliases',
    // A failing curl in front of jq must not hide behind jq's exit status.
    'set -o pipefail',
  ];
  commands.forEach((command, index) => {
    lines.push(
      '{',
      command.text,
      `} > ${quoted(`${outDir}/${index}.out`)} 2> ${quoted(`${outDir}/${index}.err`)}`,
      `__status=$?; echo "${index} $__status" >> ${quoted(`${outDir}/status`)}; [ "$__status" -eq ${command.expectedExit} ] || exit 90`,
    );
  });
  return `${lines.join('\n')}\n`;
}
