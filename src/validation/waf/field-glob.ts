/**
 * Field paths and the globs that select them. The injection guard names every value it
 * inspects by a path such as `query.q`, `body.items[2].note`, `headers.user-agent`,
 * `cookies.session`, `params.id` or `path`. Exclusions and sink tags select paths with globs
 * such as `body.items[*].note` or `body.*.comment`.
 */

/** The parts of a request the guard inspects, and the first segment of every field path. */
export const fieldRoots = ['query', 'body', 'path', 'params', 'headers', 'cookies'] as const;
export type FieldRoot = (typeof fieldRoots)[number];

/**
 * Names written as `.name` in a path. Other names (spaces, quotes, dots, very long names) are
 * attacker-chosen text, so paths shown in events and logs replace them with `[<key>]`.
 */
const PLAIN_NAME = /^[A-Za-z0-9_$@:-]{1,64}$/;

/** Appends an object member or parameter name to `parent`. */
export function memberPath(parent: string, name: string): string {
  return PLAIN_NAME.test(name) ? `${parent}.${name}` : `${parent}[<key>]`;
}

/** Appends an array index to `parent`. */
export function indexPath(parent: string, index: number): string {
  return `${parent}[${index}]`;
}

/** A compiled glob, matching the selected field and every path nested under it. */
export interface FieldGlob {
  readonly source: string;
  matches(path: string): boolean;
}

const SEGMENT = /^(?:\.([A-Za-z0-9_$@:-]{1,64}|\*)|\[(\d{1,9}|\*)\])/;

/**
 * Compiles a glob, or throws an Error whose message describes the allowed form. A glob is a root
 * (`query`, `body`, `path`, `params`, `headers`, `cookies`) followed by `.name`, `.*` (any one
 * name), `[n]` or `[*]` (any index). A glob selects its field and everything nested under it,
 * so `body.profile` covers `body.profile.bio`. Header names are matched without case.
 */
export function compileFieldGlob(glob: string): FieldGlob {
  const root = fieldRoots.find(
    (name) => glob.startsWith(name) && /^(?:$|[.[])/.test(glob.slice(name.length)),
  );
  if (root === undefined) throw new Error(globHelp(glob));

  let rest = root === 'headers' ? glob.slice(root.length).toLowerCase() : glob.slice(root.length);
  let pattern = root;
  while (rest !== '') {
    const segment = SEGMENT.exec(rest);
    if (segment === null) throw new Error(globHelp(glob));
    const [text, name, index] = segment;
    if (name === '*') pattern += String.raw`(?:\.[^.[]+|\[<key>\])`;
    else if (name !== undefined) pattern += `\\.${escapeRegExp(name)}`;
    else if (index === '*') pattern += String.raw`\[\d+\]`;
    else pattern += `\\[${index}\\]`;
    rest = rest.slice(text.length);
  }
  // Linear: the pattern has no nested quantifiers, and `[^.[]+` stops at the next separator.
  const regexp = new RegExp(`^${pattern}(?:$|[.[])`);
  return { source: glob, matches: (path) => regexp.test(path) };
}

function globHelp(glob: string): string {
  return `invalid field "${glob.slice(0, 80)}": write a root (${fieldRoots.join(', ')}) followed by .name, .*, [n] or [*], e.g. body.items[*].note`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[$()*+.?[\\\]^{|}-]/g, '\\$&');
}
