import { headerValue, type RequestContext } from '../core/context.js';
import { ipKey } from '../core/ip.js';

/**
 * Builds the counting key for one policy from the parts named in configuration. Returns
 * undefined when a part is absent (no principal yet, header not sent), and the policy then
 * does not apply to the request.
 */
export type KeyBuilder = (ctx: RequestContext) => string | undefined;

export function compileKey(parts: readonly string[], ipv6PrefixBits: number): KeyBuilder {
  const readers = parts.map((part) => partReader(part, ipv6PrefixBits));
  if (readers.length === 1) return readers[0]!;
  return (ctx) => {
    let key = '';
    for (const read of readers) {
      const value = read(ctx);
      if (value === undefined) return undefined;
      key = key === '' ? value : `${key}|${value}`;
    }
    return key;
  };
}

function partReader(part: string, ipv6PrefixBits: number): KeyBuilder {
  switch (part) {
    case 'ip':
      // ctx.ip is already normalised, so an address without ':' is IPv4 and is its own key.
      return (ctx) => (ctx.ip.includes(':') ? ipKey(ctx.ip, ipv6PrefixBits) : ctx.ip);
    case 'route':
      return (ctx) => ctx.route?.id ?? `${ctx.method} ${ctx.path}`;
    case 'method':
      return (ctx) => ctx.method;
    case 'principal':
      return (ctx) => (ctx.principal ? `${ctx.principal.type}:${ctx.principal.id}` : undefined);
    case 'user':
      return principalOfType('user');
    case 'apiKey':
      return principalOfType('api_key');
    case 'client':
      return principalOfType('client');
    case 'plan':
      return (ctx) => ctx.principal?.plan;
    default: {
      const name = part.slice('header:'.length).toLowerCase();
      // Header values are client-controlled: bound their length so keys stay small.
      return (ctx) => headerValue(ctx.headers, name)?.slice(0, 128);
    }
  }
}

function principalOfType(type: 'user' | 'api_key' | 'client'): KeyBuilder {
  return (ctx) => (ctx.principal?.type === type ? ctx.principal.id : undefined);
}
