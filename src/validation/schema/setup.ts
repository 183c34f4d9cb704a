/**
 * Builds the schema and sanitize guards from the policy, compiling every route's schemas
 * once. Throws a ConfigError at start for a schema that cannot be read or compiled, or a
 * pattern that recheck finds vulnerable to ReDoS (unless `validation.redos` is `warn`),
 * listing the problems of every schema at once.
 */
import type { PolicyConfig } from '../../core/config.js';
import { ConfigError, type ConfigIssue } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { HtmlSanitizer } from '../sanitize/html.js';
import { SanitizeGuard, type RouteSanitizing } from '../sanitize/guard.js';
import type { SanitizeProfile } from '../sanitize/profiles.js';
import { compilePart, type PartValidator } from './compile.js';
import type { RequestPart } from './issues.js';
import { SchemaGuard, type RouteSchemas } from './guard.js';
import type { PatternVerdict } from './redos.js';

const PARTS: readonly RequestPart[] = ['params', 'query', 'headers', 'body'];

export interface InputGuards {
  /** Runs before the injection guard. */
  schema: SchemaGuard | undefined;
  /** Runs after the injection guard, which should judge the HTML as sent. */
  sanitize: SanitizeGuard | undefined;
  /** Patterns kept although recheck found them vulnerable or could not judge them in time. */
  patternWarnings: PatternWarning[];
}

/** A schema pattern kept with a verdict other than `safe`. */
export interface PatternWarning {
  /** The route's `match`, e.g. `POST /users`. */
  route: string;
  /** The schema file, or the configuration path of an inline schema. */
  schema: string;
  pointer: string;
  status: PatternVerdict['status'];
  /** `exponential` or `polynomial` for a vulnerable pattern. */
  complexity: string | undefined;
  maxPatternInput: number;
}

/** Describes a kept pattern and its risk in one sentence, for the log and `config check`. */
export function describePatternWarning(warning: PatternWarning): string {
  const where = `${warning.schema}#${warning.pointer} (route ${warning.route})`;
  if (warning.status !== 'vulnerable')
    return `pattern at ${where} could not be checked for ReDoS in time; kept`;
  return (
    `pattern at ${where} is vulnerable to ReDoS (${warning.complexity ?? 'unknown'} backtracking); ` +
    'kept because validation.redos is warn, so a single request can keep the gateway busy on it. ' +
    `Strings are capped at ${warning.maxPatternInput} characters (validation.maxPatternInput), ` +
    'which does not bound exponential backtracking'
  );
}

/** Compiles the `validate` and `sanitize` keys of every route into their guards. */
export function createInputGuards(config: PolicyConfig, logger: Logger): InputGuards {
  const settings = config.validation;
  const schemas = new Map<string, RouteSchemas>();
  const sanitizing = new Map<string, RouteSanitizing>();
  const patternWarnings: PatternWarning[] = [];
  const issues: ConfigIssue[] = [];
  const failedSchemas = new Set<string>();

  const warn = (route: string, verdict: PatternVerdict, schema: string): void => {
    const warning: PatternWarning = {
      route,
      schema,
      pointer: verdict.pointer,
      status: verdict.status,
      complexity: verdict.complexity,
      maxPatternInput: settings.maxPatternInput,
    };
    patternWarnings.push(warning);
    logger.warn(warning, describePatternWarning(warning));
  };

  config.routes.forEach((route, index) => {
    const status = route.validate?.status ?? settings.status;
    const validate = route.validate;
    if (validate !== undefined) {
      const parts: Partial<Record<RequestPart, PartValidator>> = {};
      for (const part of PARTS) {
        const source = validate[part];
        if (source === undefined) continue;
        // Every schema is compiled even after one failed, so one run reports all problems.
        try {
          parts[part] = compilePart(source, {
            part,
            unknownFields: validate.unknownFields ?? settings.unknownFields,
            redos: settings.redos,
            maxPatternInput: settings.maxPatternInput,
            configPath: `routes.${index}.validate.${part}`,
            warn: (verdict, where) => warn(route.match.text, verdict, where),
          });
        } catch (error) {
          if (!(error instanceof ConfigError)) throw error;
          issues.push(...error.issues);
          failedSchemas.add(
            source.kind === 'file' ? source.path : `routes.${index}.validate.${part}`,
          );
        }
      }
      schemas.set(route.match.text, { parts, status });
    }
    if (route.sanitize !== undefined) {
      const fields = Object.entries(route.sanitize).map(([path, profile]) => ({
        path: path.split('.').slice(1),
        profile,
      }));
      sanitizing.set(route.match.text, { fields, status });
    }
  });
  if (issues.length > 0) throw new ConfigError([...failedSchemas].join(', '), issues);

  const sanitizer =
    sanitizing.size === 0
      ? undefined
      : new HtmlSanitizer({
          profiles: settings.sanitize.profiles as Record<string, SanitizeProfile>,
          maxLength: settings.sanitize.maxLength,
          maxDepth: settings.sanitize.maxDepth,
        });
  sanitizer?.warmUp();
  return {
    schema: schemas.size === 0 ? undefined : new SchemaGuard(schemas, settings.maxErrors),
    sanitize:
      sanitizer === undefined
        ? undefined
        : new SanitizeGuard(sanitizing, sanitizer, settings.maxErrors),
    patternWarnings,
  };
}
