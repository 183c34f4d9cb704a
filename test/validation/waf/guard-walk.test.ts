import { describe, expect, it } from 'vitest';

import type { RequestContext } from '../../../src/core/context.js';
import type { WafPolicy } from '../../../src/validation/waf/config.js';
import { compileFieldGlob } from '../../../src/validation/waf/field-glob.js';
import { walkRequest } from '../../../src/validation/waf/walk.js';
import { requestContext, wafPolicy } from './guard-helpers.js';

type Visit = [path: string, text: string, isKey: boolean];

function visits(ctx: RequestContext, policy: WafPolicy): { seen: Visit[]; truncated: boolean } {
  const seen: Visit[] = [];
  const result = walkRequest(ctx, policy, (path, text, isKey) => seen.push([path, text, isKey]));
  return { seen, truncated: result.truncated };
}

describe('waf walk', () => {
  it('names each value by its field path', () => {
    const ctx = requestContext('/orders/42?q=shoes&tag=a&tag=b', {
      method: 'POST',
      headers: {
        'user-agent': 'curl/8.5.0',
        referer: 'https://shop.example/',
        cookie: 'session=abc; theme=dark',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ items: [{ note: 'gift' }, { note: 'fragile', qty: 2 }], ok: true }),
      route: { id: 'POST /orders/:id', params: { id: '42' } },
    });
    const { seen, truncated } = visits(ctx, wafPolicy());
    expect(truncated).toBe(false);
    expect(seen).toEqual([
      ['path', '/orders/42', false],
      ['params.id', 'id', true],
      ['params.id', '42', false],
      ['query.q', 'q', true],
      ['query.q', 'shoes', false],
      ['query.tag', 'tag', true],
      ['query.tag[0]', 'a', false],
      ['query.tag[1]', 'b', false],
      ['headers.user-agent', 'curl/8.5.0', false],
      ['headers.referer', 'https://shop.example/', false],
      ['cookies.session', 'session', true],
      ['cookies.session', 'abc', false],
      ['cookies.theme', 'theme', true],
      ['cookies.theme', 'dark', false],
      ['body.items', 'items', true],
      ['body.items[0].note', 'note', true],
      ['body.items[0].note', 'gift', false],
      ['body.items[1].note', 'note', true],
      ['body.items[1].note', 'fragile', false],
      ['body.items[1].qty', 'qty', true],
      ['body.ok', 'ok', true],
    ]);
  });

  it('form body fields are walked', () => {
    const ctx = requestContext('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'user=ann&note=hello+world',
    });
    const policy = wafPolicy({ inspect: { path: false, headers: [] } });
    expect(visits(ctx, policy).seen).toEqual([
      ['body.user', 'user', true],
      ['body.user', 'ann', false],
      ['body.note', 'note', true],
      ['body.note', 'hello world', false],
    ]);
  });

  it('non-plain names are not copied into paths', () => {
    const ctx = requestContext('/', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ "a' OR 1=1 --": { x: 'y' } }),
    });
    const policy = wafPolicy({ inspect: { path: false, headers: [] } });
    const { seen } = visits(ctx, policy);
    expect(seen).toEqual([
      ['body[<key>]', "a' OR 1=1 --", true],
      ['body[<key>].x', 'x', true],
      ['body[<key>].x', 'y', false],
    ]);
  });

  it('__proto__ member of a JSON body is visited', () => {
    const ctx = requestContext('/', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"__proto__":{"admin":true}}',
    });
    const { seen } = visits(ctx, wafPolicy({ inspect: { path: false, headers: [] } }));
    expect(seen[0]).toEqual(['body.__proto__', '__proto__', true]);
  });

  it('nested key gets parent name', () => {
    const ctx = requestContext('/items', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"constructor":{"prototype":{"isAdmin":true}},"list":[{"id":1}]}',
    });
    const keys: Array<[string, string | undefined]> = [];
    walkRequest(ctx, wafPolicy(), (_path, text, isKey, parentKey) => {
      if (isKey) keys.push([text, parentKey]);
    });
    expect(keys).toEqual([
      ['constructor', undefined],
      ['prototype', 'constructor'],
      ['isAdmin', 'prototype'],
      ['list', undefined],
      // A member of an array item has no member name right above it.
      ['id', undefined],
    ]);
  });

  it('inspect switches leave parts out', () => {
    const ctx = requestContext('/a?q=1', {
      headers: { 'user-agent': 'x', cookie: 'c=1', 'x-search': 'term' },
    });
    const policy = wafPolicy({
      inspect: { path: false, query: false, cookies: false, headers: ['X-Search'] },
    });
    expect(visits(ctx, policy).seen).toEqual([['headers.x-search', 'term', false]]);
  });

  it('maxValues cuts the walk short', () => {
    const body = JSON.stringify({ list: Array.from({ length: 50 }, (_, index) => `v${index}`) });
    const ctx = requestContext('/', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const policy = wafPolicy({ inspect: { path: false, headers: [] }, limits: { maxValues: 10 } });
    const { seen, truncated } = visits(ctx, policy);
    expect(seen).toHaveLength(10);
    expect(truncated).toBe(true);
  });

  it('maxDepth stops descending', () => {
    let value: unknown = 'deep';
    for (let level = 0; level < 10; level++) value = [value];
    const ctx = requestContext('/', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ nested: value, after: 'kept' }),
    });
    const policy = wafPolicy({ inspect: { path: false, headers: [] }, limits: { maxDepth: 5 } });
    const { seen, truncated } = visits(ctx, policy);
    expect(truncated).toBe(true);
    expect(seen.some(([, text]) => text === 'deep')).toBe(false);
    expect(seen).toContainEqual(['body.after', 'kept', false]);
  });

  it('unparsed JSON body is skipped', () => {
    const ctx = requestContext('/', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"broken":',
    });
    const { seen } = visits(ctx, wafPolicy({ inspect: { path: false, headers: [] } }));
    expect(seen).toEqual([]);
  });

  it('binary body read whole is skipped', () => {
    const ctx = requestContext('/upload', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: '../../etc/passwd',
    });
    const { seen } = visits(ctx, wafPolicy({ inspect: { path: false, headers: [] } }));
    expect(seen).toEqual([]);
  });

  it('XML body read whole is one field', () => {
    const ctx = requestContext('/import', {
      method: 'POST',
      headers: { 'content-type': 'application/xml' },
      body: '<order><id>1</id></order>',
    });
    const { seen } = visits(ctx, wafPolicy({ inspect: { path: false, headers: [] } }));
    expect(seen).toEqual([['body', '<order><id>1</id></order>', false]]);
  });
});

describe('waf field glob', () => {
  it.each([
    ['body.items[*].note', 'body.items[2].note', true],
    ['body.items[*].note', 'body.items[2].note.text', true],
    ['body.items[*].note', 'body.items[2].notes', false],
    ['body.items[*].note', 'body.items.note', false],
    ['body.items[1]', 'body.items[1].note', true],
    ['body.items[1]', 'body.items[10]', false],
    ['body.*.comment', 'body.post.comment', true],
    ['body.*.comment', 'body[<key>].comment', true],
    ['body.*.comment', 'body.comment', false],
    ['headers.User-Agent', 'headers.user-agent', true],
    ['query', 'query.q', true],
    ['path', 'path', true],
    ['params', 'path', false],
  ])('%s against %s', (glob, path, expected) => {
    expect(compileFieldGlob(glob).matches(path)).toBe(expected);
  });
});
