import { describe, expect, it } from 'vitest';

import { RouteTable, canonicalPath } from '../../src/runtime/router.js';

const table = new RouteTable([
  { methods: ['POST'], path: '/login', id: 'POST /login', policy: 'login' },
  { methods: ['GET', 'HEAD'], path: '/orders/:id', id: 'GET,HEAD /orders/:id', policy: 'order' },
  { methods: ['GET'], path: '/files/*', id: 'GET /files/*', policy: 'files' },
]);

describe('route table', () => {
  it.each([
    '/login',
    '/login/',
    '/LOGIN',
    '/Login',
    '//login',
    '/./login',
    '/x/../login',
    '/login;jsessionid=1',
    '/%2e/login',
    '/x/%2E%2E/login',
    '/login?next=/',
  ])('matches alternative spelling %s', (path) => {
    expect(table.match('POST', path)?.policy).toBe('login');
  });

  it('keeps distinct paths and methods apart', () => {
    expect(table.match('POST', '/logins')).toBeUndefined();
    expect(table.match('GET', '/login')).toBeUndefined();
    expect(table.match('DELETE', '/orders/7')).toBeUndefined();
  });

  it('extracts parameters and wildcards', () => {
    expect(table.match('HEAD', '/orders/7')).toMatchObject({
      id: 'GET,HEAD /orders/:id',
      params: { id: '7' },
    });
    expect(table.match('GET', '/files/a/b.txt')?.policy).toBe('files');
  });

  it('leaves plain paths untouched', () => {
    expect(canonicalPath('/orders/7')).toBe('/orders/7');
    expect(canonicalPath('/a/./b/../c;p=1')).toBe('/a/c');
  });
});
