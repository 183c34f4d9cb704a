/**
 * HTTP parameter pollution in form bodies: the `parameters` policy of the query, applied to
 * the fields of an `application/x-www-form-urlencoded` body that the body guard read whole.
 * `reject` rejects with 400, `first` and `last` replace the forwarded body with the kept pairs
 * byte for byte, and `array` forwards the body as sent.
 *
 * The guard runs after the signature guard, because a Content-Digest covers the body as the
 * client sent it. Guards keep reading `ctx.body`; the rewritten bytes go to `ctx.forwardBody`,
 * which the gateway forwards (with its own Content-Length) and the adapters replay to the
 * application.
 *
 * The gateway drops the client's Content-Digest from a rewritten body's request, since it no
 * longer matches; in the adapters the application receives the header as sent.
 */
import type { PolicyConfig } from '../core/config.js';
import { headerValue, type RequestContext } from '../core/context.js';
import { CONTINUE, type Guard, type Verdict } from '../core/guard.js';
import { parseMediaType, syntaxOf } from './content-type.js';
import {
  applyPolicy,
  hasRepeat,
  ParameterPolicies,
  parametersActOnRepeats,
  repeatedParameter,
  type ParameterGuardOptions,
} from './parameters.js';

export class FormParameterGuard implements Guard {
  readonly name = 'form-parameters';
  readonly reportOnly: boolean;
  private readonly policies: ParameterPolicies;

  constructor(options: ParameterGuardOptions) {
    this.reportOnly = options.global.reportOnly;
    this.policies = new ParameterPolicies(options);
  }

  check(ctx: RequestContext): Verdict {
    const body = ctx.body;
    // A body that streams was not read, so the route's policy cannot act on its fields.
    if (body === undefined || !body.includes(AMPERSAND)) return CONTINUE;
    const media = parseMediaType(headerValue(ctx.headers, 'content-type'));
    if (syntaxOf(media) !== 'form') return CONTINUE;

    // latin1 maps each byte to one character and back, so kept pairs keep their exact bytes.
    const pairs = body.toString('latin1').split('&');
    const names = pairs.map((pair) => (pair === '' ? undefined : decodeFieldName(pair)));
    if (!hasRepeat(names)) return CONTINUE;

    const outcome = applyPolicy(names, this.policies.of(ctx.route?.id));
    if (outcome.kind === 'reject') return repeatedParameter('form', outcome.name, outcome.count);
    if (outcome.dropped.size === 0) return CONTINUE;

    const kept = pairs.filter((pair, index) => pair !== '' && !outcome.dropped.has(index));
    ctx.forwardBody = Buffer.from(kept.join('&'), 'latin1');
    return CONTINUE;
  }
}

const AMPERSAND = 0x26;
const PERCENT = 0x25;
const PLUS = 0x2b;
const SPACE = 0x20;
const HEX_PAIR = /^[0-9A-Fa-f]{2}$/;

/**
 * Decodes a field name from its latin1 form: `+` is a space, and escapes decode to bytes read
 * as UTF-8, so `caf%C3%A9` and a raw UTF-8 `café` are one name. A malformed escape stays as
 * written, as lenient parsers keep it. Invalid UTF-8 decodes to U+FFFD, which may merge two
 * such names; that errs towards finding a repeat.
 */
function decodeFieldName(pair: string): string {
  const equals = pair.indexOf('=');
  const raw = equals === -1 ? pair : pair.slice(0, equals);
  if (!raw.includes('%') && !raw.includes('+') && isAscii(raw)) return raw;
  return percentDecode(raw).toString('utf8');
}

/** Decodes a latin1 string, one character a byte, with `+` as a space and `%XX` escapes. */
function percentDecode(text: string): Buffer {
  const bytes = Buffer.allocUnsafe(text.length);
  let length = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    const escape = code === PERCENT ? text.slice(index + 1, index + 3) : '';
    if (HEX_PAIR.test(escape)) {
      bytes[length++] = parseInt(escape, 16);
      index += 2;
    } else {
      bytes[length++] = code === PLUS ? SPACE : code;
    }
  }
  return bytes.subarray(0, length);
}

function isAscii(text: string): boolean {
  for (let index = 0; index < text.length; index++) {
    if (text.charCodeAt(index) > 0x7f) return false;
  }
  return true;
}

/**
 * Builds the guard from the policy, or returns undefined where no policy, global or route,
 * drops or rejects a repeat, so nothing would change.
 */
export function createFormParameterGuard(config: PolicyConfig): FormParameterGuard | undefined {
  const global = config.parameters;
  const routes = config.routes.map((route) => ({
    id: route.match.text,
    parameters: route.parameters,
  }));
  const acts =
    parametersActOnRepeats(global, undefined) ||
    routes.some((route) => parametersActOnRepeats(global, route.parameters));
  return acts ? new FormParameterGuard({ global, routes }) : undefined;
}
