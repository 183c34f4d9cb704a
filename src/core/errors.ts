/**
 * Typed errors. Every error carries a stable `code` (`BWK_ERR_*`) that docs/errors.md lists,
 * so callers can switch on the code or use `instanceof`.
 */

export class BulwarkError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** One problem found in a configuration file. */
export interface ConfigIssue {
  /** Dotted path of the offending value, e.g. `rateLimits.0.window`. */
  path: string;
  /** The offending value, shortened for display. */
  value: string;
  /** Description of the values allowed at that path. */
  message: string;
  code: string;
}

export class ConfigError extends BulwarkError {
  readonly issues: readonly ConfigIssue[];

  constructor(source: string, issues: readonly ConfigIssue[]) {
    const lines = issues.map(
      (i) => `  ${i.code} at ${i.path || '(root)'}: ${i.message} (got ${i.value})`,
    );
    super('BWK_ERR_CONFIG_INVALID', `Invalid configuration in ${source}:\n${lines.join('\n')}`);
    this.issues = issues;
  }
}

export class StoreUnavailableError extends BulwarkError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BWK_ERR_STORE_UNAVAILABLE', message, options);
  }
}

export class InvalidArgumentError extends BulwarkError {
  constructor(message: string) {
    super('BWK_ERR_INVALID_ARGUMENT', message);
  }
}
