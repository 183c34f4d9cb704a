import type { IncomingHttpHeaders } from 'node:http';

import { describe, expect, it } from 'vitest';

import { ApiVersioning, lifecycleHeaders } from '../../src/auth/versioning.js';
import { versionFromAccept } from '../../src/auth/versioning-media-type.js';
import { validateConfig, validatePolicy, type ConfigInput } from '../../src/core/config.js';
import { ConfigError } from '../../src/core/errors.js';
import { canonicalPath } from '../../src/runtime/router.js';

type VersioningInput = NonNullable<ConfigInput['versioning']>;

const VERSIONS: VersioningInput['versions'] = [
  {
    name: '1',
    status: 'deprecated',
    deprecatedAt: '2026-06-01T00:00:00Z',
    sunset: '2027-01-31T00:00:00Z',
    link: 'https://example.com/docs/migrate-v2',
  },
  { name: '2' },
  { name: '0', status: 'retired', sunset: '2025-01-01' },
];

function versioning(overrides: Partial<VersioningInput> = {}): ApiVersioning<string> {
  const policy = validatePolicy({
    versioning: {
      from: ['path', 'header', 'mediaType'],
      vendor: 'acme',
      default: '2',
      versions: VERSIONS,
      ...overrides,
    },
  });
  return new ApiVersioning(policy.versioning!, {
    policyOf: (name) => `policy-${name}`,
    canonicalPath,
  });
}

function resolved(api: ApiVersioning<string>, path: string, headers: IncomingHttpHeaders = {}) {
  const resolution = api.resolve(headers, path);
  return {
    version: resolution.version?.name,
    routePath: resolution.routePath,
    failure: resolution.failure,
  };
}

describe('version sources', () => {
  const api = versioning();

  it('path prefix names the version and is removed for matching', () => {
    expect(resolved(api, '/v1/orders')).toEqual({
      version: '1',
      routePath: '/orders',
      failure: undefined,
    });
    expect(resolved(api, '/v1').routePath).toBe('/');
  });

  it.each(['/V1/orders', '//v1/orders', '/x/../v1/orders', '/%761/orders', '/v1;a=b/orders'])(
    'path spelling %s names version 1',
    (path) => {
      const result = resolved(api, path);

      expect(result.version).toBe('1');
      expect(result.routePath).toBe('/orders');
    },
  );

  it('path segment without a version is an ordinary path', () => {
    expect(resolved(api, '/videos/1')).toEqual({
      version: '2',
      routePath: '/videos/1',
      failure: undefined,
    });
    expect(resolved(api, '/v/orders').routePath).toBe('/v/orders');
  });

  it('header names the version', () => {
    expect(resolved(api, '/orders', { 'api-version': '1' }).version).toBe('1');
    expect(resolved(api, '/orders', { 'api-version': ' 1 ' }).version).toBe('1');
  });

  it('header names are compared without case', () => {
    const dated = versioning({ default: undefined, versions: [{ name: '2024-06-01-Beta' }] });

    expect(resolved(dated, '/x', { 'api-version': '2024-06-01-beta' }).version).toBe(
      '2024-06-01-Beta',
    );
  });

  it.each([
    'application/vnd.acme.v1+json',
    'application/vnd.acme+json; version=1',
    'application/vnd.acme+json;version="1"',
    'Application/VND.ACME.V1+JSON',
    'application/vnd.acme.v1',
    'text/html, application/vnd.acme.v1+json;q=0.9',
  ])('media type %s names version 1', (accept) => {
    expect(resolved(api, '/orders', { accept }).version).toBe('1');
  });

  it('media types without a version use the default', () => {
    for (const accept of [
      'application/json',
      '*/*',
      'application/vnd.acme+json',
      'application/vnd.acme.video+json',
      'application/vnd.acmecorp.v1+json',
    ]) {
      expect(resolved(api, '/orders', { accept }).version).toBe('2');
    }
  });

  it('highest quality known version wins', () => {
    const accept = 'application/vnd.acme.v7+json, application/vnd.acme.v1+json;q=0.5';

    expect(resolved(api, '/orders', { accept }).version).toBe('1');
  });

  it('q=0 excludes a version', () => {
    const accept = 'application/vnd.acme.v1+json;q=0';

    expect(resolved(api, '/orders', { accept }).version).toBe('2');
  });

  it('default applies without a version', () => {
    expect(resolved(api, '/orders').version).toBe('2');
  });

  it('no default requires a version', () => {
    const strict = versioning({ default: undefined });

    expect(resolved(strict, '/orders').failure).toEqual({ reason: 'required' });
  });

  it('sources not listed in from are ignored', () => {
    const headerOnly = versioning({ from: ['header'] });

    expect(resolved(headerOnly, '/v1/orders')).toEqual({
      version: '2',
      routePath: '/v1/orders',
      failure: undefined,
    });
    expect(
      resolved(headerOnly, '/orders', { accept: 'application/vnd.acme.v1+json' }).version,
    ).toBe('2');
  });
});

describe('conflicts and unknown versions', () => {
  const api = versioning();

  it('agreeing sources are accepted', () => {
    const result = resolved(api, '/v1/orders', {
      'api-version': '1',
      accept: 'application/vnd.acme.v1+json',
    });

    expect(result.version).toBe('1');
  });

  it('path and header disagreeing is a conflict', () => {
    expect(resolved(api, '/v1/orders', { 'api-version': '2' }).failure).toEqual({
      reason: 'conflict',
      sources: ['path', 'header'],
    });
  });

  it('header and media type disagreeing is a conflict', () => {
    const headers = { 'api-version': '2', accept: 'application/vnd.acme.v1+json' };

    expect(resolved(api, '/orders', headers).failure).toEqual({
      reason: 'conflict',
      sources: ['header', 'mediaType'],
    });
  });

  it('header listing two versions is a conflict', () => {
    expect(resolved(api, '/orders', { 'api-version': '1, 2' }).failure).toEqual({
      reason: 'conflict',
      sources: ['header'],
    });
  });

  it('two versions of equal quality are a conflict', () => {
    const accept = 'application/vnd.acme.v1+json, application/vnd.acme.v2+json';

    expect(resolved(api, '/orders', { accept }).failure).toEqual({
      reason: 'conflict',
      sources: ['mediaType'],
    });
  });

  it('precedence lets the first source win', () => {
    const headerFirst = versioning({ from: ['header', 'path'], onConflict: 'precedence' });

    expect(resolved(headerFirst, '/v1/orders', { 'api-version': '2' })).toEqual({
      version: '2',
      routePath: '/orders',
      failure: undefined,
    });
    expect(resolved(headerFirst, '/v1/orders').version).toBe('1');
  });

  it('unknown version names its source', () => {
    expect(resolved(api, '/v9/orders').failure).toEqual({
      reason: 'unknown',
      source: 'path',
      requested: '9',
    });
    expect(resolved(api, '/orders', { 'api-version': '3' }).failure).toMatchObject({
      reason: 'unknown',
      source: 'header',
    });
    const accept = 'application/vnd.acme.v3+json';
    expect(resolved(api, '/orders', { accept }).failure).toMatchObject({
      reason: 'unknown',
      source: 'mediaType',
    });
  });

  it('unknown name shaped unlike a version is not repeated', () => {
    const failure = resolved(api, '/orders', { 'api-version': '<script>' }).failure;

    expect(failure).toEqual({ reason: 'unknown', source: 'header', requested: undefined });
  });

  it('over-long header value is unknown', () => {
    const failure = resolved(api, '/orders', { 'api-version': '1'.repeat(100) }).failure;

    expect(failure).toMatchObject({ reason: 'unknown', source: 'header' });
  });
});

describe('rejections', () => {
  const api = versioning();

  it.each([
    ['path', 404, 'Not Found'],
    ['header', 400, 'Bad Request'],
    ['mediaType', 406, 'Not Acceptable'],
  ] as const)('unknown version from %s gets %i', (source, status, title) => {
    const verdict = api.rejection({ reason: 'unknown', source, requested: '9' });

    expect(verdict.status).toBe(status);
    expect(verdict.problem).toMatchObject({
      title,
      code: 'BWK_ERR_VERSION_UNKNOWN',
      supportedVersions: ['1', '2'],
    });
    expect(verdict.event).toMatchObject({
      type: 'version.invalid',
      details: { reason: 'unknown', sources: [source], requested: '9' },
    });
  });

  it('conflict names both sources', () => {
    const verdict = api.rejection({ reason: 'conflict', sources: ['path', 'header'] });

    expect(verdict.status).toBe(400);
    expect(verdict.problem.code).toBe('BWK_ERR_VERSION_CONFLICT');
    expect(verdict.problem.detail).toBe(
      'The path and the Api-Version header name different API versions; name one, or make them agree.',
    );
  });

  it('missing version lists the ways to name one', () => {
    const verdict = versioning({ default: undefined }).rejection({ reason: 'required' });

    expect(verdict.status).toBe(400);
    expect(verdict.problem.code).toBe('BWK_ERR_VERSION_REQUIRED');
    expect(verdict.problem.detail).toContain('a path prefix /v{version}');
    expect(verdict.problem.detail).toContain('the Api-Version header');
    expect(verdict.problem.detail).toContain('application/vnd.acme+json; version={version}');
  });

  it('retired version gets 410 naming the successor', () => {
    const retired = api.versions().find((version) => version.name === '0')!;
    const verdict = api.retiredVerdict(retired)!;

    expect(verdict.status).toBe(410);
    expect(verdict.headers).toEqual({ sunset: 'Wed, 01 Jan 2025 00:00:00 GMT' });
    expect(verdict.problem).toEqual({
      type: 'urn:bulwark:problem:version-retired',
      title: 'Gone',
      status: 410,
      code: 'BWK_ERR_VERSION_RETIRED',
      detail: 'API version 0 was retired on 2025-01-01; use version 2.',
      version: '0',
      successor: '2',
      sunset: '2025-01-01T00:00:00.000Z',
      supportedVersions: ['1', '2'],
    });
    expect(verdict.event).toMatchObject({
      type: 'version.retired',
      category: 'authorization',
      severity: 'low',
    });
  });

  it('active and deprecated versions have no retired verdict', () => {
    for (const version of api.versions().filter((each) => each.status !== 'retired'))
      expect(api.retiredVerdict(version)).toBeUndefined();
  });
});

describe('lifecycle headers', () => {
  it('use RFC 9745 and RFC 8594 formats', () => {
    const headers = lifecycleHeaders({
      deprecatedAt: Date.parse('2026-06-01T00:00:00Z'),
      sunset: Date.parse('2027-01-31T00:00:00Z'),
      link: 'https://example.com/docs/migrate-v2',
    });

    expect(headers).toEqual({
      deprecation: '@1780272000',
      sunset: 'Sun, 31 Jan 2027 00:00:00 GMT',
      link: '<https://example.com/docs/migrate-v2>; rel="deprecation", <https://example.com/docs/migrate-v2>; rel="sunset"',
    });
  });

  it('deprecation date drops milliseconds', () => {
    const headers = lifecycleHeaders({ deprecatedAt: Date.parse('2026-06-01T00:00:00.999Z') });

    expect(headers).toEqual({ deprecation: '@1780272000' });
  });

  it('link without sunset has only the deprecation relation', () => {
    const headers = lifecycleHeaders({ link: 'https://example.com/a b"<>' });

    expect(headers).toEqual({ link: '<https://example.com/a%20b%22%3C%3E>; rel="deprecation"' });
  });

  it('active version sends none', () => {
    const two = versioning()
      .versions()
      .find((version) => version.name === '2')!;

    expect(two.headers).toEqual({});
  });
});

describe('media type parsing', () => {
  const known = (name: string): boolean => name === 'beta';

  it('reads both spellings with quality', () => {
    expect(
      versionFromAccept(
        'application/vnd.acme.v2+xml;q=0.8, application/vnd.acme+json; version=3',
        'acme',
        known,
      ),
    ).toEqual([
      { name: '2', quality: 0.8 },
      { name: '3', quality: 1 },
    ]);
  });

  it('subtype names a non-numeric version only when known', () => {
    expect(versionFromAccept('application/vnd.acme.vbeta+json', 'acme', known)).toEqual([
      { name: 'beta', quality: 1 },
    ]);
    expect(versionFromAccept('application/vnd.acme.vault+json', 'acme', known)).toBeUndefined();
  });

  it('subtype and parameter disagreeing is a conflict', () => {
    expect(versionFromAccept('application/vnd.acme.v1+json; version=2', 'acme', known)).toBe(
      'conflict',
    );
  });

  it('ranges beyond the bound are ignored', () => {
    const accept = [...Array<string>(64).fill('text/plain'), 'application/vnd.acme.v1+json'].join(
      ', ',
    );

    expect(versionFromAccept(accept, 'acme', known)).toBeUndefined();
  });
});

describe('versioning configuration', () => {
  function issuesOf(input: Partial<ConfigInput>): Array<{ code: string; path: string }> {
    try {
      validateConfig({ upstream: 'http://127.0.0.1:3000', ...input } as ConfigInput);
    } catch (error) {
      if (error instanceof ConfigError)
        return error.issues.map(({ code, path }) => ({ code, path }));
      throw error;
    }
    return [];
  }

  function withVersioning(overrides: Record<string, unknown>, extra: Partial<ConfigInput> = {}) {
    return issuesOf({
      versioning: { default: '2', versions: VERSIONS, ...overrides } as VersioningInput,
      ...extra,
    });
  }

  it('valid section has defaults', () => {
    const config = validateConfig({
      upstream: 'http://127.0.0.1:3000',
      versioning: { versions: [{ name: 1 }] },
    });

    expect(config.versioning).toMatchObject({
      from: ['path', 'header'],
      onConflict: 'reject',
      pathPrefix: '/v{version}',
      header: 'Api-Version',
      upstreamHeader: 'X-Api-Version',
      versions: [{ name: '1', status: 'active', rateLimits: [] }],
    });
    expect(withVersioning({})).toEqual([]);
  });

  it('default naming an unknown version', () => {
    expect(withVersioning({ default: '5' })).toEqual([
      { code: 'BWK_ERR_CONFIG_VERSION', path: 'versioning.default' },
    ]);
  });

  it('retired default', () => {
    expect(withVersioning({ default: '0' })).toEqual([
      { code: 'BWK_ERR_CONFIG_VERSION', path: 'versioning.default' },
    ]);
  });

  it('duplicate names differing in case', () => {
    const versions = [{ name: 'beta' }, { name: 'Beta' }];

    expect(withVersioning({ default: undefined, versions })).toEqual([
      { code: 'BWK_ERR_CONFIG_DUPLICATE', path: 'versioning.versions.1.name' },
    ]);
  });

  it('sunset before deprecatedAt', () => {
    const versions = [
      { name: '1', status: 'deprecated', deprecatedAt: '2027-01-01', sunset: '2026-01-01' },
      { name: '2' },
    ];

    expect(withVersioning({ versions })).toEqual([
      { code: 'BWK_ERR_CONFIG_VERSION', path: 'versioning.versions.0.sunset' },
    ]);
  });

  it('deprecated version without deprecatedAt', () => {
    const versions = [{ name: '1', status: 'deprecated' }, { name: '2' }];

    expect(withVersioning({ versions })).toEqual([
      { code: 'BWK_ERR_CONFIG_VERSION', path: 'versioning.versions.0.deprecatedAt' },
    ]);
  });

  it('lifecycle dates on an active version', () => {
    const versions = [{ name: '1', sunset: '2027-01-01' }, { name: '2' }];

    expect(withVersioning({ versions })).toEqual([
      { code: 'BWK_ERR_CONFIG_VERSION', path: 'versioning.versions.0.sunset' },
    ]);
  });

  it('invalid dates and names', () => {
    const versions = [
      { name: '1', status: 'retired', sunset: 'next year' },
      { name: 1.5 },
      { name: 'v 2' },
      { name: '2' },
    ];

    expect(withVersioning({ versions })).toEqual([
      { code: 'BWK_ERR_CONFIG_VERSION', path: 'versioning.versions.0.sunset' },
      { code: 'BWK_ERR_CONFIG_VERSION', path: 'versioning.versions.1.name' },
      { code: 'BWK_ERR_CONFIG_VERSION', path: 'versioning.versions.2.name' },
    ]);
  });

  it('successor that is retired or missing', () => {
    const versions = [
      { name: '1', status: 'retired', successor: '0' },
      { name: '0', status: 'retired', successor: '9' },
      { name: '2' },
    ];

    expect(withVersioning({ versions })).toEqual([
      { code: 'BWK_ERR_CONFIG_VERSION', path: 'versioning.versions.0.successor' },
      { code: 'BWK_ERR_CONFIG_VERSION', path: 'versioning.versions.1.successor' },
    ]);
  });

  it('mediaType without vendor', () => {
    expect(withVersioning({ from: ['mediaType', 'mediaType'] })).toEqual([
      { code: 'BWK_ERR_CONFIG_DUPLICATE', path: 'versioning.from.1' },
      { code: 'BWK_ERR_CONFIG_VERSION', path: 'versioning.vendor' },
    ]);
  });

  it('version limit reusing a route limit name', () => {
    const versions = [
      { name: '2', rateLimits: [{ name: 'orders', key: 'ip', limit: 1, window: '1m' }] },
    ];
    const routes = [
      {
        match: 'GET /orders',
        rateLimits: [{ name: 'orders', key: 'ip', limit: 5, window: '1m' }],
      },
    ];

    expect(withVersioning({ versions }, { routes })).toEqual([
      { code: 'BWK_ERR_CONFIG_DUPLICATE', path: 'versioning.versions.0.rateLimits.0.name' },
    ]);
  });

  it('version auth with jwt needs issuers', () => {
    const versions = [{ name: '2', auth: { methods: ['jwt'] } }];

    expect(withVersioning({ versions })).toEqual([
      { code: 'BWK_ERR_CONFIG_AUTH', path: 'versioning.versions.0.auth.methods' },
    ]);
  });

  it('route written with the version prefix', () => {
    const routes = [{ match: 'GET /v1/orders' }, { match: 'GET /videos' }];

    expect(withVersioning({}, { routes })).toEqual([
      { code: 'BWK_ERR_CONFIG_VERSION', path: 'routes.0.match' },
    ]);
  });

  it('upstream header that carries the identity', () => {
    expect(withVersioning({ upstreamHeader: 'X-Auth-Subject' })).toEqual([
      { code: 'BWK_ERR_CONFIG_CONFLICT', path: 'versioning.upstreamHeader' },
    ]);
  });

  it('path prefix without a placeholder', () => {
    expect(withVersioning({ pathPrefix: '/api/v{version}' })).toEqual([
      { code: 'BWK_ERR_CONFIG_VALUE', path: 'versioning.pathPrefix' },
    ]);
  });
});
