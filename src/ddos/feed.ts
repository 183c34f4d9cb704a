import { parseCidr } from '../core/ip.js';

/**
 * Parser of IP list files in the formats that public feeds use. A line contains one address or
 * CIDR, or nothing. A comment runs from `#` to the end of the line, a line starting with `;`
 * is a comment, and `CIDR ; comment` is read as in the Spamhaus DROP lists. Examples:
 *
 * ```
 * # FireHOL style
 * 192.0.2.0/24
 * 198.51.100.7          # a single address
 * ; Spamhaus DROP style
 * 203.0.113.0/24 ; SBL000001
 * ```
 */

/** Longer lines are reported as invalid rather than parsed. */
export const MAX_FEED_LINE_LENGTH = 256;

/** Invalid lines listed in an error message; the rest are counted. */
const MAX_LISTED_ISSUES = 10;

export interface FeedIssue {
  /** 1-based line number. */
  line: number;
  message: string;
}

export interface ParsedFeed {
  cidrs: string[];
  issues: FeedIssue[];
}

/** Parses the text of a list file; every invalid line becomes an issue naming its number. */
export function parseFeed(text: string): ParsedFeed {
  const cidrs: string[] = [];
  const issues: FeedIssue[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const entry = entryOf(lines[index]!, index === 0);
    if (entry === '') continue;
    const line = index + 1;
    if (entry.length > MAX_FEED_LINE_LENGTH) {
      issues.push({ line, message: `longer than ${MAX_FEED_LINE_LENGTH} characters` });
      continue;
    }
    if (/\s/.test(entry)) {
      issues.push({ line, message: `expected one address or CIDR, got ${quote(entry)}` });
      continue;
    }
    try {
      parseCidr(entry);
      cidrs.push(entry);
    } catch {
      issues.push({ line, message: `not an address or CIDR: ${quote(entry)}` });
    }
  }
  return { cidrs, issues };
}

/** Returns the entry of a line without comments and surrounding blanks, or '' for none. */
function entryOf(raw: string, first: boolean): string {
  let line = first && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
  if (line.trimStart().startsWith(';')) return '';
  const comment = line.search(/[#;]/);
  if (comment !== -1) line = line.slice(0, comment);
  return line.trim();
}

/** Describes the issues of a file for an error message: the first few and how many more. */
export function describeIssues(issues: readonly FeedIssue[]): string {
  const listed = issues
    .slice(0, MAX_LISTED_ISSUES)
    .map((issue) => `line ${issue.line}: ${issue.message}`);
  const more = issues.length - listed.length;
  return more > 0 ? `${listed.join('; ')}; and ${more} more` : listed.join('; ');
}

// File contents are the operator's, but a binary file would spill control characters into
// logs, so the text is cut and escaped.
function quote(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text);
}
