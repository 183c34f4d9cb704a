/**
 * Path traversal and local file inclusion: `../` and `..\` sequences, absolute paths to system
 * files, `file://` URLs and UNC paths. The engine passes the URL-, entity- and
 * overlong-decoded forms too. This detector also folds the lookalikes that only some
 * platforms accept (`∕`, `∖`, `0x2e`) and the dot runs that Windows trims (`....//`).
 *
 * Prose mentions paths ("see ../README.md", "we use /etc/hosts"), so at paranoia 1 a single
 * `../` or a system path counts only when the value is a path by itself, with no spaces.
 */
import { HitList, SCORE } from './rule-table.js';
import type { DetectContext, RuleHit } from './types.js';

/** Files and folders read by traversal probes, where no letter precedes them. */
const SENSITIVE_TARGET = new RegExp(
  [
    String.raw`etc[/\\]+(?:passwd|shadow|group|hosts|issue|hostname|motd|fstab|crontab|sudoers|profile|environment|resolv\.conf|my\.cnf|ssh|httpd|apache2?|nginx|mysql|php\d?|security|master\.passwd|pwd\.db|spwd\.db|init\.d)\b`,
    String.raw`proc[/\\]+(?:self|version|cmdline|mounts|net|sched_debug|\d+)\b`,
    String.raw`(?:boot|win|system)\.ini\b`,
    String.raw`(?:windows|winnt)[/\\]+(?:system32|win\.ini|repair|debug|panther|php\.ini|system\.ini)`,
    String.raw`system32[/\\]+(?:drivers|config|inetsrv|cmd\.exe|license\.rtf|eula\.txt)`,
    String.raw`(?:inetpub|xampp|wamp)[/\\]`,
    String.raw`var[/\\]+(?:log|www|mail|spool|lib[/\\]+mysql|run)\b`,
    String.raw`usr[/\\]+local[/\\]+(?:apache2?|etc|nginx|cpanel|php)`,
    String.raw`\.(?:ssh[/\\]|bash_history|bashrc|htaccess|htpasswd|git[/\\]config|env\b|aws[/\\]credentials)`,
    String.raw`(?:web\.config|wp-config\.php|id_rsa|id_dsa|authorized_keys|master\.passwd)\b`,
    String.raw`[/\\]\.(?:bash_profile|profile|netrc|rhosts|shosts|sh_history|cshrc|Xauthority|forward|mysql_history|viminfo)\b`,
    String.raw`[/\\](?:php|httpd|my|nginx|apache2?|ports|sshd_config|access|error)[._-]?(?:ini|conf|cnf|log)\b`,
  ]
    // No letter may precede a target, so `myetc/passwd` and `prod.env` pass.
    .map((target) => `(?<![A-Za-z])(?:${target})`)
    .join('|'),
  'i',
);

/**
 * Absolute paths whose first folders hold the system's configuration, logs or web roots,
 * which a value has no reason to name.
 */
const SYSTEM_ROOT =
  /^(?:file:\/\/\/?)?(?:[A-Za-z]:)?[/\\]+(?:etc|proc|sys|boot|root|var[/\\]+(?:log|www|lib|spool|mail|adm|cron|cpanel|run)|usr[/\\]+(?:spool|adm|etc|lib[/\\]+security)|windows|winnt|inetpub|xampp|wamp|apache\d*|php\d*|mysql|nginx|private[/\\]+etc|Library[/\\]+WebServer|Program ?Files(?: \(x86\))?[/\\]+(?:apache|php|mysql|xampp|filezilla)[^/\\]*|usr[/\\]+local[/\\]+(?:etc|apache\d*|nginx|php\d*|cpanel|www|pureftpd|lib[/\\]+php))(?:[/\\]|$)/i;

/** A last path segment that names a log, a configuration file or an account database. */
const LOG_OR_CONFIG =
  /(?:log|logs|conf|cnf|ini|config|passwd|shadow|history|messages|wtmp|utmpx?|default|pdb)(?:\.\w+)?[/\\]?$|\.(?:log|conf|cnf|ini)\b/i;

/** Other absolute paths outside users' folders: `/usr`, `/var`, `/opt`, `/tmp`, `C:\Program Files`. */
const OTHER_ROOT =
  /^(?:file:\/\/\/?)?(?:[A-Za-z]:)?[/\\]+(?:var|usr|bin|sbin|lib|lib64|opt|tmp|dev|srv|private|System|Library|Volumes|Applications|Program ?Files(?: \(x86\))?|ProgramData|logs?)(?:[/\\]|$)/i;

/* eslint-disable no-control-regex -- control characters stand in for separators here. */
/** Characters and notations that foldPath rewrites. Most values have none. */
const FOLDABLE =
  /0x|%|\.\.(?:2f|5c)|[\u0000-\u0008\u000b\u000c\u000e-\u001f\u2024\u2044\u2215\u2216\u29f5\u29f8\u29f9\u3002\ufe68\uff0e\uff0f\uff3c\ue000-\uf8ff\ufffd]/i;

/** Invalid escapes, undecodable bytes, private-use and control characters, in runs. */
const SEPARATOR_JUNK =
  /(?:%(?![0-9a-f]{2})[0-9a-z]{0,2}|[\u0001-\u0008\u000b\u000c\u000e-\u001f\ue000-\uf8ff\ufffd])+/gi;

/** A character that every traversal rule needs, before or after folding. */
const PATH_HINT =
  /[./\\:%\u0001-\u001f\u2024\u2215\u2216\uff0e\uff0f\uff3c\ue000-\uf8ff\ufffd]|0x/i;
/* eslint-enable no-control-regex */

/**
 * Returns `input` with lookalike separators and dots folded to ASCII, the `0x2e` notation
 * decoded, and NUL bytes removed.
 */
export function foldPath(input: string): string {
  if (!FOLDABLE.test(input)) return input;
  let path = input;
  // `..2f..2fetc2fpasswd`: escapes that lost their `%`, seen only next to a dot run.
  if (/\.\.(?:2f|5c)/i.test(path)) path = path.replace(/2f/gi, '/').replace(/5c/gi, '\\');
  return (
    path
      .replace(/0x(2e|2f|5c)/gi, (_match, hex: string) => String.fromCharCode(parseInt(hex, 16)))
      // Escapes left undecoded because their hex digits are invalid (`%c0%qf`, `%bg`), bytes
      // that were no valid UTF-8, private-use and control characters: fuzzers put them where a
      // separator goes, hoping a lenient decoder turns them into one.
      .replace(SEPARATOR_JUNK, '/')
      .replace(/[\u2215\u2044\u29f8\uff0f]/g, '/')
      .replace(/[\u2216\u29f5\u29f9\ufe68\uff3c]/g, '\\')
      .replace(/[\u2024\uff0e\u3002]/g, '.')
      .replaceAll('\0', '')
  );
}

/** Counts `..` segments: two or more dots then a separator, or a separator then two dots at the end. */
function countDotDot(path: string): number {
  const matches = path.match(/(?<=^|[^.\w])\.{2,}[\s?]*[/\\;]|[/\\]\.{2,}$/g);
  return matches === null ? 0 : matches.length;
}

/** Detects traversal sequences, system paths and local file URLs. */
export function detectTraversal(value: string, context: DetectContext): RuleHit[] {
  const input = unwrapBase64(value);
  // Every rule needs a dot, a separator or a character that foldPath turns into one.
  if (!PATH_HINT.test(input)) return [];
  const found = new HitList('traversal');
  const level = context.strict ? 4 : context.paranoia;

  const path = foldPath(input);
  const trimmed = path.trim();
  // One path and nothing else. Spaces only inside the folders of an absolute path.
  const isPathLike =
    (trimmed.length > 0 && !/\s/.test(trimmed)) ||
    /^(?:[A-Za-z]:)?[/\\](?:[^/\\\n]*[/\\])+[^/\\\s]*$/.test(trimmed);
  const dotDots = countDotDot(path);

  // `../../` climbs out of any folder a value is joined to. Prose has no reason to repeat it.
  if (dotDots >= 2) found.add('traversal-001-dot-dot-sequence', SCORE.critical);
  // `../boot.ini`, `etc/passwd%00` or `/etc/shadow` as the whole value.
  if (isPathLike && SENSITIVE_TARGET.test(path))
    found.add('traversal-002-sensitive-file', SCORE.critical);
  // `file:///etc/passwd` or `file://c:/boot.ini`: a URL to a system file on the server's disk.
  // A link to a user's own document (`file:///C:/Users/…`) counts from paranoia 2.
  if (/\bfile:\/\//i.test(path)) {
    const system =
      SENSITIVE_TARGET.test(path) || SYSTEM_ROOT.test(trimmed.replace(/^file:\/+/i, '/'));
    if (system) found.add('traversal-003-file-url', SCORE.critical);
    else if (level >= 2 && isPathLike) found.add('traversal-014-local-file-url', SCORE.error);
  }
  // `php://filter/…` or `expect://id`: stream wrappers that read files or run commands.
  if (
    /\b(?:php:\/\/(?:filter|input|fd|memory|temp)|expect:\/\/|phar:\/\/|zip:\/\/|data:\/\/)/i.test(
      path,
    )
  ) {
    found.add('traversal-013-stream-wrapper', SCORE.critical);
  }
  // `/etc/apache2/ports.conf` or `C:\xampp\apache\logs\error.log` as the whole value, or a
  // log or configuration file in another system folder (`/usr/lib/cron/log`).
  const systemFile = OTHER_ROOT.test(trimmed) && LOG_OR_CONFIG.test(trimmed);
  if (isPathLike && (SYSTEM_ROOT.test(trimmed) || systemFile)) {
    found.add('traversal-004-system-path', SCORE.critical);
  }
  // `foo.php%00.jpg`: a NUL byte that cuts the extension a server appends.
  if (/(?:\0|%00)\.?\w{0,5}$/.test(input) && /[./\\]/.test(input) && isPathLike) {
    found.add('traversal-005-nul-truncation', SCORE.error);
  }

  // `../config.js`: a value that starts by leaving the folder it is joined to.
  if (dotDots === 1 && isPathLike && /^(?:[/\\]+)?\.{2,}[/\\]/.test(trimmed)) {
    found.add('traversal-012-leading-dot-dot', SCORE.critical);
  }
  if (level >= 2) {
    if (dotDots === 1 && isPathLike) found.add('traversal-006-dot-dot', SCORE.error);
    if (isPathLike && OTHER_ROOT.test(trimmed))
      found.add('traversal-015-other-system-path', SCORE.error);
    // `\\host\share\file`: a UNC path makes Windows open a remote share.
    if (isPathLike && /^\\\\[\w.$-]+\\[\w.$-]+/.test(trimmed))
      found.add('traversal-007-unc-path', SCORE.error);
  }
  if (level >= 3) {
    if (dotDots >= 1) found.add('traversal-008-dot-dot-in-text', SCORE.warning);
    if (SENSITIVE_TARGET.test(path))
      found.add('traversal-009-sensitive-file-in-text', SCORE.warning);
  }
  if (level >= 4 && isPathLike && /^(?:[/\\]|[A-Za-z]:[/\\])/.test(trimmed)) {
    found.add('traversal-010-absolute-path', SCORE.notice);
  }
  // A file name field needs no parent folder, absolute path, drive, home or NUL.
  if (context.strict && /(?:^|[/\\])\.\.(?:[/\\]|$)|^[/\\~]|^[A-Za-z]:|\0|%00/.test(path)) {
    found.add('traversal-011-sink-escape', SCORE.critical);
  }
  return found.hits;
}

/**
 * Returns the decoded text when `input` is base64 that decodes to printable ASCII, as in
 * `Li4vLi4vZXRjL3Bhc3N3ZA==` for PHP's `convert.base64-decode` filter. Otherwise `input`.
 */
function unwrapBase64(input: string): string {
  if (input.length < 8 || input.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(input))
    return input;
  const text = Buffer.from(input, 'base64').toString('latin1');
  return /^[\x20-\x7e]+$/.test(text) ? text : input;
}
