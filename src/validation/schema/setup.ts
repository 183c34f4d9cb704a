/**
 * Builds the schema and sanitize guards from the policy, compiling every route's schemas
 * once. Throws a ConfigError at start for a schema that cannot be read or compiled, or a
 * pattern that recheck finds vulnerable to ReDoS (unless `validation.redos` is `warn`).
 */
import type { PolicyConfig } from '../../core/config.js';
import type { Logger } from '../../core/logger.js';
import { HtmlSanitizer } from '../sanitize/html.js';
import { SanitizeGuard, type RouteSanitizing } from '../sanitize/guard.js';
import type { SanitizeProfile } from '../sanitize/profiles.js';
import { compilePart, type PartValidator } from './compile.js';
import type { RequestPart } from './issues.js';
import { SchemaGuard, type RouteSchemas } from './guard.js';

const PARTS: readonly RequestPart[] = ['params', 'query', 'headers', 'body'];

export interface InputGuards {
  /** Runs before the injection guard. */
  schema: SchemaGuard | undefined;
  /** Runs after the injection guard, which should judge the HTML as sent. */
  sanitize: SanitizeGuard | undefined;
}

/** Compiles the `validate` and `sanitize` keys of every route into their guards. */
export function createInputGuards(config: PolicyConfig, logger: Logger): InputGuards {
  const settings = config.validation;
  const schemas = new Map<string, RouteSchemas>();
  const sanitizing = new Map<string, RouteSanitizing>();

  config.routes.forEach((route, index) => {
    const status = route.validate?.status ?? settings.status;
    const validate = route.validate;
    if (validate !== undefined) {
      const parts: Partial<Record<RequestPart, PartValidator>> = {};
      for (const part of PARTS) {
        const source = validate[part];
        if (source === undefined) continue;
        parts[part] = compilePart(source, {
          part,
          unknownFields: validate.unknownFields ?? settings.unknownFields,
          redos: settings.redos,
          maxPatternInput: settings.maxPatternInput,
          configPath: `routes.${index}.validate.${part}`,
          warn: (verdict, where) =>
            logger.warn(
              {
                route: route.match.text,
                schema: where,
                pointer: verdict.pointer,
                status: verdict.status,
                complexity: verdict.complexity,
              },
              verdict.status === 'vulnerable'
                ? 'schema pattern is vulnerable to ReDoS; kept because validation.redos is warn'
                : 'schema pattern could not be checked for ReDoS in time; kept',
            ),
        });
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
  };
}
