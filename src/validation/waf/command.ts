/**
 * OS command injection, Unix and Windows. The input is split at shell control operators
 * (`;`, `|`, `||`, `&`, `&&`, newline) and at command substitutions (backticks, `$( )`).
 * Each piece that follows one is read as a simple command. Its first word, without quotes,
 * backslashes, `${IFS}` and a directory prefix, is compared with a list of commands that
 * attackers run to probe or take over a host. Prose such as "Ben & Jerry's" or
 * "rm -rf is dangerous" passes because a piece must look like a command line (a known command
 * whose arguments are flags, paths, addresses or nothing), not just contain a word.
 */
import type { DetectContext, RuleHit } from './types.js';
import { HitList, SCORE } from './rule-table.js';

/** Commands whose name is no English word or common name. One after an operator is enough. */
const DISTINCT_COMMANDS = new Set([
  'whoami', 'uname', 'ifconfig', 'ipconfig', 'netstat', 'nslookup', 'wget', 'curl', 'netsh',
  'powershell', 'pwsh', 'systeminfo', 'tasklist', 'taskkill', 'chmod', 'chown', 'nc', 'ncat',
  'netcat', 'zsh', 'ksh', 'csh', 'tcsh', 'python2', 'python3', 'tftp', 'scp', 'ssh', 'base64',
  'xxd', 'certutil', 'bitsadmin', 'wmic', 'schtasks', 'cmd', 'rundll32', 'regsvr32', 'mshta',
  'cscript', 'wscript', 'getent', 'hostname', 'passwd', 'useradd', 'usermod', 'crontab',
  'nohup', 'sudo', 'mkfifo', 'mknod', 'traceroute', 'tracert', 'ls', 'pwd', 'printenv',
  'phpinfo', 'gcc', 'awk', 'sed', 'xterm', 'socat', 'busybox', 'uptime', 'lsof', 'arp',
  'sysinfo', 'printf', 'xargs', 'nmap', 'openssl', 'net', 'netsh', 'dir',
]); // prettier-ignore

/**
 * Commands that are also everyday words or names ("ping me", "birthday bash", "Java and
 * python"). After an operator they count only with an argument list free of plain words.
 */
const WORD_COMMANDS = new Set([
  'cat', 'echo', 'find', 'grep', 'head', 'tail', 'more', 'kill', 'type', 'set', 'host',
  'touch', 'cp', 'mv', 'exec', 'eval', 'system', 'export', 'tee', 'timeout', 'start',
  'shutdown', 'reboot', 'del', 'copy', 'move', 'reg', 'sc', 'bash', 'sh', 'dash', 'python',
  'perl', 'ruby', 'php', 'lua', 'telnet', 'ftp', 'su', 'sleep', 'ping', 'dig', 'id', 'ps',
  'env', 'ver', 'rm', 'wc', 'groups', 'ip', 'route',
]); // prettier-ignore

/**
 * Word commands that are everyday English words. Alone after an operator that follows a word,
 * as in "apples; more" or "power cut & shutdown", they end a sentence, so they count only
 * from paranoia 2. After an address, a quote or nothing (`127.0.0.1; reboot`) they count at
 * paranoia 1. The other word commands (`id`, `ps`, `rm`, `sh`) are rare alone in prose and
 * count alone at paranoia 1 anywhere.
 */
const ENGLISH_COMMANDS = new Set([
  'cat', 'echo', 'find', 'head', 'tail', 'more', 'kill', 'type', 'set', 'host', 'touch',
  'system', 'export', 'tee', 'timeout', 'start', 'shutdown', 'reboot', 'copy', 'move', 'bash',
  'dash', 'python', 'perl', 'ruby', 'telnet', 'sleep', 'ping', 'dig', 'groups', 'route',
]); // prettier-ignore

/** Commands that no word or name spells, so the command alone is a command line. */
const UNMISTAKABLE_COMMANDS = new Set([
  'whoami', 'uname', 'ifconfig', 'ipconfig', 'netstat', 'nslookup', 'systeminfo', 'sysinfo',
  'tasklist', 'powershell', 'phpinfo', 'certutil', 'bitsadmin', 'wmic', 'getent', 'useradd',
  'mkfifo', 'busybox', 'ncat', 'netcat', 'tracert', 'traceroute', 'printenv',
]); // prettier-ignore

/** Windows commands that act through a subcommand. The subcommand is part of the name. */
const SUBCOMMANDS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['net', new Set(['user', 'localgroup', 'group', 'view', 'share', 'use', 'session', 'accounts', 'start', 'stop'])],
  ['netsh', new Set(['firewall', 'advfirewall', 'interface', 'wlan', 'http', 'winhttp'])],
  ['reg', new Set(['add', 'delete', 'query', 'export', 'import', 'save', 'load', 'copy'])],
  ['sc', new Set(['create', 'config', 'start', 'stop', 'query', 'delete'])],
]); // prettier-ignore

/**
 * Code that runs a command: a call such as `system(` or `exec(` at the start of the value or
 * after a quote or operator, the PHP open tag, PHP's `{${…}}` and `${@…}` interpolation, and
 * the server-side include `#exec`.
 */
const CODE_EXECUTION =
  /\b(?:os\.(?:system|popen)|subprocess\.\w+|child_process\.\w+|Runtime\.getRuntime\(\)\.exec)\s*\(|(?:^|[;|&'"`(:]\s*)(?:system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec|eval|assert|phpinfo|phpversion|child_process|execSync|spawn)\s*\(|<\?php\b|\{\$\{|\{\$_(?:GET|POST|REQUEST|COOKIE|SERVER)\b|\$\{@|<!--\s*#\s*exec\s+cmd\s*=/i;

/** An absolute path whose first two folders are glob patterns, in a command position. */
const GLOB_PATH = /(?:^|[\s;|&`(])\/\w*[?*][\w?*]*\/\w*[?*]/;

const CODE_EXECUTION_HINT = /\w\s*\(|<\?|\$\{|\{\$|#\s*exec/i;

/**
 * Characters without which a value has no control operator or substitution. A single
 * character class lets the regular expression engine scan fast.
 */
const SHELL_SYNTAX = /[;|&\n\r`$(]/;

/** One piece of input read as a simple command. */
interface CommandPiece {
  readonly name: string;
  readonly args: readonly string[];
  /** The context before the piece: an operator, a substitution, or the start of the value. */
  readonly after: 'operator' | 'substitution' | 'code-span' | 'start' | 'argument';
  /** True when an operator or the end of the value follows the piece, not markup. */
  readonly ended: boolean;
  /** True when a word of prose comes right before the operator, as in "apples; more". */
  readonly afterWord: boolean;
}

// Control operators and substitution starts. `&&` and `||` before `&` and `|`.
const SPLIT = /(\|\||&&|[;|&\n\r]|`|\$\(|\(\s*\)\s*\{)/;

/** Detects a shell command injected after a control operator or in a substitution. */
export function detectCommand(input: string, context: DetectContext): RuleHit[] {
  const found = new HitList('command');
  const level = context.strict ? 4 : context.paranoia;

  // `() { :;};`: the Shellshock function definition that runs the rest of an environment value.
  if (/\(\s*\)\s*\{\s*(?::\s*)?;\s*\}\s*;/.test(input))
    found.add('command-001-shellshock', SCORE.critical);
  // `/???/??t /???/p??s??`: glob patterns that the shell expands to `/bin/cat /etc/passwd`.
  if ((input.includes('?') || input.includes('*')) && GLOB_PATH.test(input))
    found.add('command-013-glob-path', SCORE.critical);
  // `${IFS}` stands for a space in a shell and nowhere else.
  if (/\$\{?IFS\b/.test(input)) found.add('command-002-ifs', SCORE.critical);

  // `system('id')`, `phpinfo()`, `<?php`, `{${…}}` or an SSI `#exec`: code that runs a command.
  // The first pattern is a cheap necessary condition of the second.
  if (CODE_EXECUTION_HINT.test(input) && CODE_EXECUTION.test(input)) {
    found.add('command-011-code-execution', SCORE.critical);
  }

  if (SHELL_SYNTAX.test(input)) {
    for (const piece of readPieces(input)) judgePiece(piece, level, found);
  } else {
    // Without an operator the value can only be one command line.
    const piece = readSimpleCommand(input, 'start');
    if (piece !== undefined) judgePiece(piece, level, found);
  }

  if (
    level >= 2 &&
    /\d?>\s*&\s*\d|>\s*\/dev\/(?:null|tcp|udp)\b|\/dev\/(?:tcp|udp)\//.test(input)
  ) {
    found.add('command-007-redirection', SCORE.error);
  }
  if (level >= 3 && /\$\{[^}]{0,64}\}/.test(input))
    found.add('command-008-expansion', SCORE.warning);
  if (level >= 4 && /[;|`]|\$\(|&&/.test(input))
    found.add('command-009-metacharacter', SCORE.notice);
  // A shell argument has no use for control operators, substitutions or expansions at all.
  if (context.strict && /[;|&`\n\r<>]|\$[({A-Za-z_]/.test(input))
    found.add('command-010-sink-metacharacter', SCORE.critical);
  return found.hits;
}

function judgePiece(piece: CommandPiece, level: number, found: HitList): void {
  const plainWords = countPlainWords(piece);
  const commandLike = plainWords >= 0;
  const distinct = DISTINCT_COMMANDS.has(piece.name);
  const shellArgs = piece.args.some((arg) => isShellArgument(arg) || isQuoted(arg));
  // An everyday word needs arguments that no sentence has: flags, paths, numbers, quotes.
  // A subcommand such as `reg add` makes it a command of its own.
  const withSubcommand = SUBCOMMANDS.has(piece.name) && piece.args.length > 0 && commandLike;
  const wordWithShellArgs = (plainWords === 0 && shellArgs) || withSubcommand;

  if (piece.after === 'start') {
    // A value that is a whole command line, such as `cat /etc/passwd`, for a field that is
    // later concatenated into one. Free text rarely has that shape, but it can, so a
    // command without arguments counts at paranoia 1 only when no word spells it.
    const alone = piece.args.length === 0 && UNMISTAKABLE_COMMANDS.has(piece.name);
    const whichCommand =
      piece.name === 'which' && piece.args.length === 1 && isKnownCommand(piece.args[0]!);
    const shaped = distinct
      ? commandLike && (shellArgs || alone || withSubcommand)
      : wordWithShellArgs;
    if (shaped || whichCommand) found.add('command-005-command-line', SCORE.critical);
    else if (level >= 2 && distinct && commandLike)
      found.add('command-006-lone-command', SCORE.error);
    return;
  }
  if (piece.after === 'code-span') {
    // Markdown such as "the `exec` function" in a ticket or comment names a command without
    // running it. A whole command line in the span (`rm -rf /`) still counts as substitution,
    // because a shell would run it, but a word with plain arguments counts from paranoia 2.
    const commandLine = distinct ? commandLike && shellArgs : wordWithShellArgs;
    if (commandLine) found.add('command-004-substitution', SCORE.critical);
    else if (level >= 2 && commandLike) found.add('command-012-code-span', SCORE.error);
    return;
  }
  const bareInSubstitution = piece.after === 'substitution' && piece.args.length === 0;
  // A bare word counts only where a command ends: before an operator, a comment or the end.
  // An everyday word there ends a sentence ("apples; more") more often than it runs.
  const sentenceEnd = piece.afterWord && ENGLISH_COMMANDS.has(piece.name);
  const bareWord = piece.args.length === 0 && piece.ended && !sentenceEnd;
  // A shell runs `cat /etc/passwd now` with `now` as one more argument: plain words after a
  // command count when flags, paths or addresses outnumber them.
  const strongArgs = piece.args.filter(isStrongArgument).length;
  const argumentsWithWords = commandLike && plainWords > 0 && strongArgs >= plainWords;
  // A known command followed by plain English words only ("folder; ls showed nothing") is a
  // sentence that names a command.
  const proseArgs = piece.args.length > 0 && piece.args.every(isProseWord);
  const shaped = distinct
    ? commandLike && (!proseArgs || withSubcommand)
    : bareWord || wordWithShellArgs || argumentsWithWords;
  if (shaped || (bareInSubstitution && commandLike)) {
    const ruleId =
      piece.after === 'substitution' ? 'command-004-substitution' : 'command-003-chained-command';
    found.add(ruleId, SCORE.critical);
  } else if (level >= 2) {
    found.add('command-006-lone-command', SCORE.error);
  }
}

/**
 * Distinguishes a shell substitution from a Markdown code span. A backtick that follows a
 * space or an opening bracket in a value with other words around it opens a code span, as in
 * "the `exec` function" or "(`dir`, `type`)".
 */
function openingBacktick(
  parts: readonly string[],
  at: number,
  input: string,
): CommandPiece['after'] {
  // Directly after another operator (`$(\`id\`)`), the backtick is shell syntax.
  const before = parts[at - 1]!;
  const spaced = (at === 1 && before.length === 0) || /[\s([]$/.test(before);
  const wholeValue = input.trim().startsWith('`') && input.trim().endsWith('`');
  return spaced && !wholeValue && /\S\s+\S/.test(input) ? 'code-span' : 'substitution';
}

/** Replaces the pipes of each line that starts and ends with one and has ` | ` inside. */
function blankTableRows(input: string): string {
  return input
    .split('\n')
    .map((line) => {
      const trimmed = line.trim();
      const row = trimmed.startsWith('|') && trimmed.endsWith('|') && trimmed.includes(' | ');
      return row ? line.replaceAll('|', ' ') : line;
    })
    .join('\n');
}

/** Splits `input` at operators and returns the simple command that starts each piece. */
function readPieces(input: string): CommandPiece[] {
  // A Markdown table row (`| id | name |`) uses pipes as cell borders.
  const text = input.includes('|') ? blankTableRows(input) : input;
  const parts = text.split(SPLIT);
  const pieces: CommandPiece[] = [];
  let after: CommandPiece['after'] = 'start';
  let backticks = 0;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (i % 2 === 1) {
      after = part === '$(' ? 'substitution' : 'operator';
      if (part === '`') {
        backticks++;
        after = backticks % 2 === 1 ? openingBacktick(parts, i, input) : 'argument';
      }
      continue;
    }
    // Text right after a closing backtick continues the same command line as arguments.
    if (after === 'argument') continue;
    // The next separator is a backtick that opens a code span, or no separator follows.
    const next = parts[i + 1];
    const ended = next === undefined || next !== '`' || backticks % 2 === 1;
    const afterWord = i >= 2 && PROSE_END.test(parts[i - 2]!);
    const piece = readSimpleCommand(part, after, ended, afterWord);
    if (piece !== undefined) pieces.push(piece);
  }
  return pieces;
}

/** Text that ends with a word of two or more letters, maybe followed by closing punctuation. */
const PROSE_END = /\p{L}{2,}[.,!?'")]*\s*$/u;

// eslint-disable-next-line no-control-regex -- ESC starts the escape sequence being matched.
const TERMINAL_ESCAPE = /(?:\\033|\x1b)\[\d*[A-Za-z]?/g;

function readSimpleCommand(
  text: string,
  after: CommandPiece['after'],
  ended = true,
  afterWord = false,
): CommandPiece | undefined {
  // `${IFS}` is a space to the shell, and a terminal escape such as `\033[2A` hides what
  // precedes it on screen.
  let cleaned =
    text.includes('$') || text.includes('\\') || text.includes('\x1b')
      ? text.replace(/\$\{?IFS\}?/g, ' ').replace(TERMINAL_ESCAPE, ' ')
      : text;
  // `{ls,-la}`: brace expansion that spells a command line without spaces.
  if (/^\s*\{[\w/.-]+,/.test(cleaned)) cleaned = cleaned.replace(/[{},]/g, ' ');
  const start = /^[\s'")]*/.exec(cleaned)![0].length;
  const firstEnd = nextSpace(cleaned, start);
  if (firstEnd === start) return undefined;
  // Most pieces start with a word that is no command. Leave before splitting the rest.
  const name = readCommandName(cleaned.slice(start, firstEnd));
  if (!isKnownCommand(name) && name !== 'which') return undefined;
  const words = splitWords(cleaned.slice(start));
  // `#` at the start of a word opens a comment that runs to the end of the line.
  const comment = words.findIndex((word, index) => index > 0 && word.startsWith('#'));
  const args = comment === -1 ? words.slice(1) : words.slice(1, comment);
  return { name, args, after, ended: ended || comment !== -1, afterWord };
}

const WORD = /\S*/y;

function nextSpace(text: string, from: number): number {
  WORD.lastIndex = from;
  return from + WORD.exec(text)![0].length;
}

/**
 * Reads a command name, undoing the quoting tricks a shell ignores (`c''at`, `c\at`,
 * `w"h"oami`, `who$@ami`). A path such as `C:\Windows\System32\cmd.exe` keeps its backslashes.
 */
function readCommandName(word: string): string {
  const direct = commandName(word);
  if (isKnownCommand(direct) || !/['"\\$]/.test(word)) return direct;
  // `who$@ami`: positional parameters that expand to nothing split the name.
  const joined = word.replace(/\$[@*\d]/g, '').replace(/['"\\](?=[\w'"])/g, '');
  return commandName(joined.replace(/['"]/g, ''));
}

/** Splits at spaces outside quotes. A quoted span stays in its word with its quotes. */
function splitWords(text: string): string[] {
  return text.match(/(?:'[^']*'?|"[^"]*"?|[^\s'"]+)+/g) ?? [];
}

function isKnownCommand(name: string): boolean {
  return DISTINCT_COMMANDS.has(name) || WORD_COMMANDS.has(name);
}

/** `/usr/bin/id` → `id`, `C:\Windows\System32\cmd.exe` → `cmd`, `'id'` → `id`. */
function commandName(word: string): string {
  // A plain word needs no cleaning. No listed command is longer than 12 characters.
  if (/^[A-Za-z0-9]+$/.test(word)) return word.length > 12 ? '' : word.toLowerCase();
  const bare = word.replace(/^['"(]+|['")|;\]}\\]+$/g, '');
  const base = bare.slice(Math.max(bare.lastIndexOf('/'), bare.lastIndexOf('\\')) + 1);
  return base.replace(/\.(?:exe|com|bat|cmd)$/i, '').toLowerCase();
}

/**
 * Counts the plain words among the arguments, those that are no flag, path, address,
 * number or quoted string. Returns -1 when the arguments read as a sentence: a word ends a
 * clause, or plain words outnumber three and the other arguments.
 */
function countPlainWords(piece: CommandPiece): number {
  let args = piece.args;
  const subcommands = SUBCOMMANDS.get(piece.name);
  if (subcommands !== undefined && args.length > 0) {
    if (!subcommands.has(args[0]!.toLowerCase())) return -1;
    args = args.slice(1);
  }
  let plainWords = 0;
  let shellArguments = 0;
  for (const arg of args) {
    if (isShellArgument(arg) || isQuoted(arg)) {
      shellArguments++;
      continue;
    }
    if (/^['"]?[#'"]?$/.test(arg)) continue;
    // A word that ends a clause ("dangerous,", "it.") is prose.
    if (/^[A-Za-z]+[,.:!?]$/.test(arg)) return -1;
    plainWords++;
  }
  return plainWords <= Math.max(3, shellArguments) ? plainWords : -1;
}

/** Checks whether `arg` is a quoted string, also one cut short by an operator (`'import os`). */
function isQuoted(arg: string): boolean {
  return /^(?:'[^']*'?|"[^"]*"?)$/.test(arg);
}

/** Flags, paths, URLs, IP addresses and redirections: arguments that no sentence has. */
function isStrongArgument(arg: string): boolean {
  return isQuoted(arg) || (isShellArgument(arg) && !/^\d+['"]?$/.test(arg));
}

/** Checks whether `arg` is a word of letters as in a sentence, with or without punctuation. */
function isProseWord(arg: string): boolean {
  return /^[A-Za-z]+(?:'[a-z]+)?[,.:;!?]?$/.test(arg);
}

/** Flags, paths, URLs, IP addresses, numbers and redirections. */
function isShellArgument(arg: string): boolean {
  return /^(?:%\w+%|-{1,2}[A-Za-z0-9][\w=-]*|['"]?\/[\w.\-/]*|[A-Za-z]:\\|\\\\|~\/|\.{1,2}\/|[a-z]+:\/\/\S+|\d{1,3}(?:\.\d{1,3}){3}|\d+|\d?>{1,2}\S*|<\S*|\/[A-Za-z?]+)['"]?/.test(
    arg,
  );
}
