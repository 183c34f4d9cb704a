import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';

import { parseDocument } from 'yaml';
import type { z } from 'zod';

import { ConfigError, type ConfigIssue } from './errors.js';
import {
  configSchema,
  policySchema,
  type BulwarkConfig,
  type PolicyConfig,
} from './config-schema.js';
import { resolveSchemaFiles } from '../validation/schema/config.js';

export { configSchema, policySchema } from './config-schema.js';
export type {
  BulwarkConfig,
  ConfigInput,
  PolicyConfig,
  PolicyInput,
  RateLimitConfig,
  RouteConfig,
} from './config-schema.js';

const MAX_CONFIG_BYTES = 1024 * 1024;

/** Reads, parses and validates a YAML configuration file; throws ConfigError naming each problem. */
/** Changes a parsed file before validation, e.g. to apply command-line flags. */
export type ConfigOverride = (raw: Record<string, unknown>) => Record<string, unknown>;

export function loadConfigFile(path: string, override?: ConfigOverride): BulwarkConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'file not found'
        : (error as Error).message;
    throw new ConfigError(path, [
      {
        path: '',
        value: path,
        message: `cannot read configuration: ${reason}`,
        code: 'BWK_ERR_CONFIG_READ',
      },
    ]);
  }
  // Schema files are named relative to the configuration file.
  const baseDir = dirname(path);
  return parseConfigText(text, path, (raw) =>
    resolveSchemaFiles(override ? override(raw) : raw, baseDir),
  );
}

export function parseConfigText(
  text: string,
  source = 'configuration',
  override?: ConfigOverride,
): BulwarkConfig {
  if (text.length > MAX_CONFIG_BYTES) {
    throw new ConfigError(source, [
      {
        path: '',
        value: `${text.length} bytes`,
        message: `file is larger than ${MAX_CONFIG_BYTES} bytes`,
        code: 'BWK_ERR_CONFIG_TOO_LARGE',
      },
    ]);
  }
  // Alias expansion is bounded so that a "billion laughs" file cannot exhaust memory.
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      source,
      document.errors.map((error) => ({
        path: '',
        value: `line ${error.linePos?.[0]?.line ?? '?'}`,
        message: `YAML syntax error: ${error.message.split('\n')[0]}`,
        code: 'BWK_ERR_CONFIG_YAML',
      })),
    );
  }
  let raw: unknown;
  try {
    raw = document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError(source, [
      {
        path: '',
        value: 'aliases',
        message: `YAML rejected: ${(error as Error).message}`,
        code: 'BWK_ERR_CONFIG_YAML',
      },
    ]);
  }
  const object = raw && typeof raw === 'object' && !Array.isArray(raw) ? raw : {};
  return validateConfig(
    override ? override(object as Record<string, unknown>) : (raw ?? {}),
    source,
  );
}

/** Validates an already-parsed configuration object, applies defaults and freezes it. */
export function validateConfig(raw: unknown, source = 'configuration'): BulwarkConfig {
  return validateWith(configSchema, raw, source);
}

/** Validates library adapter options (the policy part of the configuration). */
export function validatePolicy(raw: unknown, source = 'options'): PolicyConfig {
  return validateWith(policySchema, raw, source);
}

function validateWith<T>(schema: z.ZodType<T>, raw: unknown, source: string): T {
  const result = schema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      source,
      result.error.issues.map((issue) => toConfigIssue(issue, raw)),
    );
  }
  return deepFreeze(result.data);
}

function toConfigIssue(issue: z.core.$ZodIssue, raw: unknown): ConfigIssue {
  const path = issue.path.map(String).join('.');
  const value = valueAt(raw, issue.path);
  const custom = (issue as { params?: { bwk?: string } }).params?.bwk;
  return {
    path,
    value: describeValue(value),
    message: messageFor(issue),
    code: custom ?? codeFor(issue),
  };
}

function messageFor(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((key) => `"${key}"`).join(', ')}; check the spelling against docs/configuration.md`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_type':
      return `expected ${issue.expected}`;
    default:
      return issue.message;
  }
}

function codeFor(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return 'BWK_ERR_CONFIG_UNKNOWN_KEY';
    case 'invalid_type':
      return 'BWK_ERR_CONFIG_TYPE';
    default:
      return 'BWK_ERR_CONFIG_VALUE';
  }
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current = root;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
