/**
 * Compiles the schema of one request part, once at start: reads the file, checks its
 * patterns for ReDoS, applies the unknown-fields policy and compiles it with Ajv. A zod
 * schema from library options is wrapped to the same interface.
 */
import { readFileSync } from 'node:fs';

import type { Ajv, ErrorObject, ValidateFunction } from 'ajv';

import { ConfigError, type ConfigIssue } from '../../core/errors.js';
import { ajvFor, dialectOf } from './ajv.js';
import type { SchemaSource } from './config.js';
import { ajvIssues, type RequestPart, type ValidationIssue } from './issues.js';
import { checkPattern, escapePointer, schemaPatterns, type PatternVerdict } from './redos.js';
import { zodValidator } from './zod.js';

/** The outcome of validating one part. */
export interface PartResult {
  issues: ValidationIssue[];
  /**
   * Whether unknown fields were removed, so the part must be forwarded rewritten. Only with
   * the `strip` policy.
   */
  stripped: boolean;
  /** The value to forward when `stripped`: the input without its unknown fields. */
  value: unknown;
}

/** Validates one part of a request. */
export interface PartValidator {
  /**
   * Validates `value`, removing unknown fields in place under the `strip` policy. `coerce`
   * selects the variant for string-only inputs (query, path parameters, headers, forms).
   */
  validate(value: unknown, coerce: boolean): PartResult;
}

export interface CompileSettings {
  part: RequestPart;
  unknownFields: 'reject' | 'strip';
  redos: 'reject' | 'warn';
  maxPatternInput: number;
  /** The configuration path of the schema, for messages, e.g. `routes.2.validate.body`. */
  configPath: string;
  /** Receives patterns that recheck found vulnerable or could not judge in `warn` mode. */
  warn: (verdict: PatternVerdict, where: string) => void;
}

/** Largest schema file read, like the limit on the configuration file itself. */
const MAX_SCHEMA_FILE_BYTES = 1024 * 1024;

/**
 * Compiles `source` for one part. Throws a ConfigError that lists every invalid or
 * vulnerable pattern and every meta-schema error of the schema, each with the file (or the
 * configuration path) and the JSON pointer of the problem.
 */
export function compilePart(source: SchemaSource, settings: CompileSettings): PartValidator {
  if (source.kind === 'zod') return zodValidator(source.schema(), settings);

  const where = source.kind === 'file' ? source.path : settings.configPath;
  const schema = source.kind === 'file' ? readSchemaFile(source.path, settings) : source.schema;
  const issues = patternIssues(schema, where, settings);

  const dialect = dialectOf(schema);
  if (dialect === undefined) {
    issues.push(
      schemaIssue(
        settings,
        where,
        '/$schema',
        'unsupported $schema: use draft-07, 2019-09 or 2020-12 (https://json-schema.org/draft/2020-12/schema), or leave it out for draft-07',
      ),
    );
    throw new ConfigError(where, issues);
  }

  // Headers always carry fields a schema does not name, and path parameters are fixed by
  // the route, so the policy applies to the body and the query only.
  const policed = settings.part === 'body' || settings.part === 'query';
  const prepared = policed ? closeObjects(schema) : schema;
  const max = settings.maxPatternInput;
  let strict: ValidateFunction;
  try {
    strict = compileWith(
      ajvFor({ dialect, coerceTypes: false, maxPatternInput: max }),
      prepared,
      where,
      settings,
    );
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(where, [...issues, ...error.issues]);
  }
  if (issues.length > 0) throw new ConfigError(where, issues);
  const coercing = compileWith(
    ajvFor({ dialect, coerceTypes: true, maxPatternInput: max }),
    prepared,
    where,
    settings,
  );

  return {
    validate(value, coerce) {
      const validate = coerce ? coercing : strict;
      if (validate(value)) return { issues: [], stripped: false, value };
      const errors = validate.errors ?? [];
      if (!policed || settings.unknownFields === 'reject' || !onlyUnknownFields(errors))
        return { issues: ajvIssues(settings.part, errors), stripped: false, value };

      // Every failure is an unknown field: remove them and validate again, since a field
      // may have failed one branch of an `anyOf` that another branch accepts.
      removeFields(value, errors);
      if (validate(value)) return { issues: [], stripped: true, value };
      return { issues: ajvIssues(settings.part, validate.errors ?? []), stripped: false, value };
    },
  };
}

function readSchemaFile(path: string, settings: CompileSettings): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'file not found'
        : (error as Error).message;
    throw schemaError(settings, path, '', `cannot read schema file: ${reason}`);
  }
  if (text.length > MAX_SCHEMA_FILE_BYTES)
    throw schemaError(
      settings,
      path,
      '',
      `schema file is larger than ${MAX_SCHEMA_FILE_BYTES} bytes`,
    );
  let schema: unknown;
  try {
    schema = JSON.parse(text);
  } catch (error) {
    throw schemaError(
      settings,
      path,
      '',
      `schema file is not valid JSON: ${(error as Error).message}`,
    );
  }
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema))
    throw schemaError(settings, path, '', 'schema file must hold a JSON object');
  return schema as Record<string, unknown>;
}

/**
 * Returns an issue for every pattern that is invalid, or vulnerable under `redos: reject`,
 * and passes the patterns kept despite a verdict other than `safe` to `settings.warn`.
 */
function patternIssues(schema: unknown, where: string, settings: CompileSettings): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const pattern of schemaPatterns(schema)) {
    const verdict = checkPattern(pattern);
    if (verdict.status === 'safe') continue;
    if (verdict.status === 'invalid') {
      issues.push(
        schemaIssue(
          settings,
          where,
          pattern.pointer,
          'is not a valid regular expression (with the u flag)',
        ),
      );
    } else if (verdict.status === 'vulnerable' && settings.redos === 'reject') {
      issues.push(
        schemaIssue(
          settings,
          where,
          pattern.pointer,
          `pattern is vulnerable to ReDoS (${verdict.complexity} backtracking); rewrite it without nested or overlapping repetition, or set validation.redos: warn`,
        ),
      );
    } else {
      settings.warn(verdict, where);
    }
  }
  return issues;
}

function compileWith(
  ajv: Ajv,
  schema: Record<string, unknown>,
  where: string,
  settings: CompileSettings,
): ValidateFunction {
  // The instances are built with `allErrors`, so the meta-schema check lists every error.
  // A compile error, below, is thrown by Ajv at the first one.
  if (!ajv.validateSchema(schema)) {
    // A bad keyword value fails several branches of the meta-schema (`type: "strin"` is
    // neither one of the type names nor an array), so only the first error per pointer is kept.
    const firstPerPointer = new Map<string, ErrorObject>();
    for (const error of ajv.errors ?? []) {
      if (!firstPerPointer.has(error.instancePath)) firstPerPointer.set(error.instancePath, error);
    }
    const issues = [...firstPerPointer.values()].map((error) =>
      schemaIssue(settings, where, error.instancePath, `invalid JSON Schema: ${error.message}`),
    );
    if (issues.length === 0)
      issues.push(
        schemaIssue(settings, where, '', 'invalid JSON Schema: does not match the meta-schema'),
      );
    throw new ConfigError(where, issues);
  }
  try {
    return ajv.compile(schema);
  } catch (error) {
    const message = (error as Error).message;
    throw schemaError(
      settings,
      where,
      pointerOf(message, schema),
      `invalid JSON Schema: ${message}`,
    );
  }
}

/** Finds the JSON pointer an Ajv compile error refers to, where its message shows one. */
function pointerOf(message: string, schema: unknown): string {
  const at = /at (?:path )?"#([^"]*)"/.exec(message)?.[1];
  if (at !== undefined) return decodeURI(at);
  const keyword = /unknown keyword: "([^"]+)"/.exec(message)?.[1];
  if (keyword !== undefined) return findKey(schema, keyword, '') ?? '';
  return '';
}

function findKey(node: unknown, key: string, pointer: string): string | undefined {
  if (node === null || typeof node !== 'object') return undefined;
  for (const [name, value] of Object.entries(node)) {
    const at = `${pointer}/${escapePointer(name)}`;
    if (name === key) return at;
    const found = findKey(value, key, at);
    if (found !== undefined) return found;
  }
  return undefined;
}

function schemaIssue(
  settings: CompileSettings,
  file: string,
  pointer: string,
  message: string,
): ConfigIssue {
  return {
    path: settings.configPath,
    value: pointer === '' ? file : `${file}#${pointer}`,
    message,
    code: 'BWK_ERR_CONFIG_SCHEMA',
  };
}

function schemaError(
  settings: CompileSettings,
  file: string,
  pointer: string,
  message: string,
): ConfigError {
  return new ConfigError(file, [schemaIssue(settings, file, pointer, message)]);
}

const COMBINATORS = new Set(['allOf', 'anyOf', 'oneOf', 'not', 'if', 'then', 'else']);

// NOTE: a `$defs` entry is closed even when a `$ref` inside `allOf` uses it, which rejects
// the fields a sibling of that `$ref` declares. Such schemas should set their own rule.

/**
 * Returns a copy of `schema` where every object schema that declares `properties` and sets
 * no rule for other properties gets `additionalProperties: false`. Subschemas inside
 * `allOf`, `anyOf`, `oneOf`, `not` and `if`/`then`/`else` are left open, because closing
 * them would reject the fields a sibling subschema declares. Such schemas should set
 * `additionalProperties` or `unevaluatedProperties` themselves.
 */
export function closeObjects(schema: Record<string, unknown>): Record<string, unknown> {
  return close(schema, false) as Record<string, unknown>;
}

function close(node: unknown, insideCombinator: boolean): unknown {
  if (Array.isArray(node)) return node.map((item) => close(item, insideCombinator));
  if (node === null || typeof node !== 'object') return node;

  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (DATA_KEYWORDS.has(key)) copy[key] = value;
    else if (
      key === 'properties' ||
      key === 'patternProperties' ||
      key === '$defs' ||
      key === 'definitions'
    )
      copy[key] = mapValues(value, (inner) => close(inner, false));
    else copy[key] = close(value, insideCombinator || COMBINATORS.has(key));
  }
  const open =
    !('additionalProperties' in copy) &&
    !('unevaluatedProperties' in copy) &&
    !('patternProperties' in copy);
  if (!insideCombinator && 'properties' in copy && open) copy.additionalProperties = false;
  return copy;
}

const DATA_KEYWORDS = new Set(['const', 'enum', 'default', 'examples']);

function mapValues(value: unknown, map: (inner: unknown) => unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, map(inner)]));
}

function onlyUnknownFields(errors: readonly ErrorObject[]): boolean {
  return errors.length > 0 && errors.every((error) => error.keyword === 'additionalProperties');
}

/** Deletes the properties that `additionalProperties` errors name, in place. */
function removeFields(value: unknown, errors: readonly ErrorObject[]): void {
  for (const error of errors) {
    const name = (error.params as { additionalProperty?: unknown }).additionalProperty;
    if (typeof name !== 'string') continue;
    const parent = valueAtPointer(value, error.instancePath);
    if (parent !== null && typeof parent === 'object' && !Array.isArray(parent))
      delete (parent as Record<string, unknown>)[name];
  }
}

function valueAtPointer(root: unknown, pointer: string): unknown {
  if (pointer === '') return root;
  let current = root;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (current === null || typeof current !== 'object') return undefined;
    current = Object.hasOwn(current, key) ? (current as Record<string, unknown>)[key] : undefined;
  }
  return current;
}
