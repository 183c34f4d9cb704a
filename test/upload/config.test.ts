import { describe, expect, it } from 'vitest';

import { validateConfig } from '../../src/core/config.js';
import { ConfigError } from '../../src/core/errors.js';
import { compilePolicy } from '../../src/runtime/policy.js';
import { parseClamdAddress, uploadPolicyFrom } from '../../src/upload/config.js';

const storage = { dir: '/var/lib/bwk-test/files', quarantineDir: '/var/lib/bwk-test/quarantine' };
const types = [{ extension: '.PNG', mime: 'Image/PNG' }];

function issuesOf(upload: Record<string, unknown>): Array<{ path: string; code: string }> {
  try {
    validateConfig({ upstream: 'http://127.0.0.1:1', routes: [{ match: 'POST /files', upload }] });
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map(({ path, code }) => ({ path, code }));
    throw error;
  }
  return [];
}

describe('upload configuration', () => {
  it('defaults applied and types normalised', () => {
    const policy = uploadPolicyFrom({ types, storage });
    expect(policy.maxFileSize).toBe(10 * 1024 * 1024);
    expect(policy.types.get('png')).toEqual(new Set(['image/png']));
    expect(policy.csv.formulas).toBe('neutralise');
    expect(policy.storage.forward).toBe('reference');
  });

  it('relative storage folder rejected', () => {
    expect(issuesOf({ types, storage: { ...storage, dir: 'uploads' } })).toEqual([
      { path: 'routes.0.upload.storage.dir', code: 'BWK_ERR_CONFIG_UPLOAD' },
    ]);
  });

  it('quarantine folder inside the storage folder rejected', () => {
    const issues = issuesOf({ types, storage: { ...storage, quarantineDir: `${storage.dir}/q` } });
    expect(issues).toEqual([
      { path: 'routes.0.upload.storage.quarantineDir', code: 'BWK_ERR_CONFIG_UPLOAD' },
    ]);
  });

  it('quarantine with stream forwarding rejected', () => {
    const issues = issuesOf({
      types,
      scan: { clamd: 'tcp://127.0.0.1:3310', unavailable: 'quarantine' },
      storage: { ...storage, forward: 'stream' },
    });
    expect(issues).toEqual([
      { path: 'routes.0.upload.scan.unavailable', code: 'BWK_ERR_CONFIG_UPLOAD' },
    ]);
  });

  it('invalid clamd address rejected', () => {
    expect(issuesOf({ types, storage, scan: { clamd: 'clamd:3310' } })).toEqual([
      { path: 'routes.0.upload.scan.clamd', code: 'BWK_ERR_CONFIG_UPLOAD' },
    ]);
  });

  it('clamd addresses parsed', () => {
    expect(parseClamdAddress('tcp://127.0.0.1:3310')).toEqual({
      kind: 'tcp',
      host: '127.0.0.1',
      port: 3310,
    });
    expect(parseClamdAddress('tcp://[::1]:3310')).toEqual({ kind: 'tcp', host: '::1', port: 3310 });
    expect(parseClamdAddress('/run/clamav/clamd.ctl')).toEqual({
      kind: 'unix',
      path: '/run/clamav/clamd.ctl',
    });
    expect(parseClamdAddress('unix:/run/clamd.sock')).toEqual({
      kind: 'unix',
      path: '/run/clamd.sock',
    });
    expect(parseClamdAddress('tcp://127.0.0.1')).toBeUndefined();
  });

  it('route body limit follows maxTotalSize', () => {
    const config = validateConfig({
      upstream: 'http://127.0.0.1:1',
      routes: [{ match: 'POST /files', upload: { types, storage, maxTotalSize: '50mb' } }],
    });
    const route = compilePolicy(config).routes[0]!;
    expect(route.policy.limits.maxBodySize).toBe(50 * 1024 * 1024);
    expect(route.policy.upload?.maxTotalSize).toBe(50 * 1024 * 1024);
  });
});
