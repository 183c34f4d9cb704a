/**
 * The Ajv instances that compile the JSON Schemas of the configuration: strict mode, all
 * errors, the formats of ajv-formats, the named formats and keywords Bulwark adds, and a
 * regular-expression engine that rejects long strings.
 *
 * Ajv compiles each schema to a JavaScript function with `new Function`. That runs on schema
 * text from the operator's configuration at start, never on request data.
 */
import { Ajv, type KeywordDefinition } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { AddedFormat, RegExpEngine, RegExpLike } from 'ajv/dist/types/index.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS, so under NodeNext its function is the `default` of the default import.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** Default maximum length of a string that `pattern` and `patternProperties` are run on. */
export const DEFAULT_MAX_PATTERN_INPUT = 4096;

/**
 * Builds the engine Ajv calls for `pattern` and `patternProperties`. A string longer than
 * `maxInput` fails the pattern without running it, so even a pattern that the ReDoS check
 * let through (in `warn` mode, or one it could not judge) backtracks over a bounded input.
 * The native engine is kept for shorter strings because it matches what schema authors test
 * with, and no safe engine such as RE2 is a dependency of this project.
 */
export function boundedRegExp(maxInput: number): RegExpEngine {
  const engine = (pattern: string, flags: string): RegExpLike => {
    const regExp = new RegExp(pattern, flags);
    return {
      test: (text: string) => text.length <= maxInput && regExp.test(text),
      // Ajv caches compiled patterns under this key.
      toString: () => `${regExp.toString()}<=${maxInput}`,
    } as RegExpLike;
  };
  engine.code = 'boundedRegExp';
  return engine;
}

/**
 * Named formats that configuration schemas may use beyond those of ajv-formats. Each is a
 * linear regular expression or a plain function.
 */
export const customFormats: Record<string, RegExp | ((value: string) => boolean)> = {
  /** An E.164 telephone number: `+`, then 8 to 15 digits, the first not 0. */
  e164: /^\+[1-9][0-9]{7,14}$/,
  /** A URL slug: lower-case letters and digits in groups joined by single dashes. */
  slug: /^[a-z0-9]+(?:-[a-z0-9]+)*$/,
  /** The shape of an ISO 3166-1 alpha-2 country code (not checked against the list). */
  'country-code': /^[A-Z]{2}$/,
  /** The shape of an ISO 4217 currency code (not checked against the list). */
  'currency-code': /^[A-Z]{3}$/,
  /** Text without control characters (tab, line feed and carriage return allowed) or bidi controls. */
  'safe-text': (value) => !UNSAFE_TEXT.test(value),
};

// C0 controls except tab, LF and CR; DEL and C1 controls; bidi embeddings, overrides and isolates.
const UNSAFE_TEXT =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/;

/** Keywords that configuration schemas may use beyond the JSON Schema vocabulary. */
export const customKeywords: KeywordDefinition[] = [
  {
    // Length limits in bytes matter where a store counts bytes, not characters.
    keyword: 'maxBytes',
    type: 'string',
    schemaType: 'number',
    validate: (max: number, value: string) => Buffer.byteLength(value, 'utf8') <= max,
    metaSchema: { type: 'integer', minimum: 0 },
    error: { message: 'must be at most the number of UTF-8 bytes given by maxBytes' },
  },
  {
    // `minLength: 1` accepts a string of spaces, which is seldom what a required name means.
    keyword: 'notBlank',
    type: 'string',
    schemaType: 'boolean',
    validate: (required: boolean, value: string) => !required || value.trim() !== '',
    metaSchema: { type: 'boolean' },
    error: { message: 'must contain a character other than white space' },
  },
];

/** The JSON Schema drafts a schema may declare in `$schema`. Draft-07 without one. */
export type Dialect = 'draft-07' | '2019-09' | '2020-12';

/** Returns the draft a schema declares in `$schema`, draft-07 when it declares none. */
export function dialectOf(schema: Record<string, unknown>): Dialect | undefined {
  const declared = schema.$schema;
  if (declared === undefined) return 'draft-07';
  if (typeof declared !== 'string') return undefined;
  if (/^https?:\/\/json-schema\.org\/draft-07\/schema#?$/.test(declared)) return 'draft-07';
  if (/^https:\/\/json-schema\.org\/draft\/2019-09\/schema$/.test(declared)) return '2019-09';
  if (/^https:\/\/json-schema\.org\/draft\/2020-12\/schema$/.test(declared)) return '2020-12';
  return undefined;
}

export interface AjvSettings {
  dialect: Dialect;
  /** Strings in query, path parameters and headers are converted to the schema's types. */
  coerceTypes: boolean;
  maxPatternInput: number;
}

const instances = new Map<string, Ajv>();

/** Returns the shared Ajv instance for `settings`, creating it on first use. */
export function ajvFor(settings: AjvSettings): Ajv {
  const key = `${settings.dialect}|${settings.coerceTypes}|${settings.maxPatternInput}`;
  let ajv = instances.get(key);
  if (ajv === undefined) {
    ajv = createAjv(settings);
    instances.set(key, ajv);
  }
  return ajv;
}

type StringTest = (value: string) => boolean;

function boundedTest(test: RegExp | StringTest, max: number): StringTest {
  return test instanceof RegExp
    ? (value) => value.length <= max && test.test(value)
    : (value) => value.length <= max && test(value);
}

/** Wraps a string format so that a string longer than `max` fails it without matching. */
function boundedFormat(format: AddedFormat, max: number): AddedFormat {
  if (format instanceof RegExp || typeof format === 'function')
    return boundedTest(format as RegExp | StringTest, max);
  if (typeof format !== 'object' || format.async === true || format.type === 'number')
    return format;
  return {
    ...format,
    validate: boundedTest(format.validate as RegExp | StringTest, max),
  } as AddedFormat;
}

const DIALECTS = { 'draft-07': Ajv, '2019-09': Ajv2019, '2020-12': Ajv2020 };

function createAjv(settings: AjvSettings): Ajv {
  const ajv = new DIALECTS[settings.dialect]({
    strict: true,
    allErrors: true,
    // `coerceTypes: 'array'` also wraps a single query value into an array where the schema
    // expects one, so `?tag=a` and `?tag=a&tag=b` both validate against `type: array`.
    coerceTypes: settings.coerceTypes ? 'array' : false,
    useDefaults: false,
    // Schemas are compiled under the operator's file name, and a second schema with the same
    // `$id` must not clash with the first.
    addUsedSchema: false,
    code: { regExp: boundedRegExp(settings.maxPatternInput) },
    // Patterns get the `u` flag, which the ReDoS check assumes as well.
    unicodeRegExp: true,
  });
  addFormats(ajv, { mode: 'full' });
  for (const [name, format] of Object.entries(customFormats)) ajv.addFormat(name, format);
  // Formats run regular expressions too, and recheck finds the `url` expression of
  // ajv-formats 3.0.1 polynomial, so formats get the same bound on input length.
  for (const [name, format] of Object.entries(ajv.formats)) {
    if (format !== undefined) ajv.addFormat(name, boundedFormat(format, settings.maxPatternInput));
  }
  for (const keyword of customKeywords) ajv.addKeyword(keyword);
  return ajv;
}
