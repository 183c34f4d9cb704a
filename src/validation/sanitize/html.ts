/**
 * HTML sanitization with DOMPurify on one server-side DOM (jsdom). The window is created on
 * the first call and shared by every profile, because creating one takes about 60 ms.
 *
 * DOMPurify parses the input the way a browser would, removes what the profile does not
 * allow, and serialises the rest. That parse and serialise cycle is what defeats mutation
 * XSS (namespace confusion in SVG and MathML, `noscript` and `style` parsing differences). Bulwark adds three things around it:
 * - bounds on length and nesting depth before parsing, because jsdom is slow to build a DOM
 *   (on the shared 2-core development machine, 21 KB of rich text with 2,000 elements took
 *   about 0.3 s per pass, and 10,000 nested elements overflowed the stack);
 * - URL rules per profile for `href` and `src`, checked in a DOMPurify hook;
 * - a stability loop, so that sanitizing the output again returns it unchanged.
 */
import { createRequire } from 'node:module';

import type { DOMPurify as Purifier, UponSanitizeAttributeHookEvent } from 'dompurify';
import type createDOMPurifyType from 'dompurify';
import type { JSDOM as JsdomType } from 'jsdom';

import { BulwarkError } from '../../core/errors.js';
import { nestingDepth } from './depth.js';
import { builtinProfiles, type SanitizeProfile } from './profiles.js';

export type { SanitizeProfile } from './profiles.js';

/** Raised for an HTML value that is over the length or depth limit. */
export class HtmlTooLargeError extends BulwarkError {
  readonly limit: 'maxLength' | 'maxDepth';

  constructor(limit: 'maxLength' | 'maxDepth', max: number) {
    super(
      'BWK_ERR_HTML_TOO_LARGE',
      limit === 'maxLength'
        ? `HTML is longer than ${max} characters`
        : `HTML is nested deeper than ${max} elements`,
    );
    this.limit = limit;
  }
}

export interface HtmlSanitizerOptions {
  /** Custom profiles by name, in addition to `text`, `basic` and `rich`. */
  profiles?: Readonly<Record<string, SanitizeProfile>>;
  /** Maximum input length in UTF-16 code units. Default 16,384. */
  maxLength?: number;
  /** Maximum element nesting depth, as estimated before parsing. Default 100. */
  maxDepth?: number;
}

export const DEFAULT_MAX_HTML_LENGTH = 16 * 1024;
export const DEFAULT_MAX_HTML_DEPTH = 100;

/** Passes beyond the first before the output is declared unstable. */
const MAX_EXTRA_PASSES = 3;

// eslint-disable-next-line no-control-regex
const NEEDS_PARSE = /[<>&\u0000\r\u00a0]/;
const DATA_IMAGE = /^data:image\/(?:png|gif|jpeg|webp);base64,[a-z0-9+/]+=*$/i;
/** A URL with a scheme: letters, digits, `+`, `-`, `.` up to the first colon. */
const SCHEME = /^([a-z][a-z0-9+.-]*):/i;
// Browsers drop these characters when they read a URL, so `java\tscript:` is `javascript:`.
// eslint-disable-next-line no-control-regex
const URL_IGNORED = /[\u0000-\u0020\u007f-\u009f]/g;

let purifier: Purifier | undefined;
/** The profile of the sanitize call in progress; DOMPurify hooks are per instance. */
let activeProfile: SanitizeProfile | undefined;

const require = createRequire(import.meta.url);

/**
 * Returns the shared DOMPurify instance, creating it on the first call. jsdom and DOMPurify
 * are loaded here rather than imported, so that a process without HTML fields never loads
 * jsdom (about 0.3 s and tens of MB).
 */
function sharedPurifier(): Purifier {
  if (purifier === undefined) {
    const { JSDOM } = require('jsdom') as { JSDOM: typeof JsdomType };
    const createDOMPurify = require('dompurify') as typeof createDOMPurifyType;
    const { window } = new JSDOM('');
    purifier = createDOMPurify(window as unknown as Parameters<typeof createDOMPurify>[0]);
    purifier.addHook('uponSanitizeAttribute', checkUrlAttribute);
  }
  return purifier;
}

function checkUrlAttribute(_node: Element, data: UponSanitizeAttributeHookEvent): void {
  const profile = activeProfile;
  if (profile === undefined) return;
  if (data.attrName === 'href') data.keepAttr = linkAllowed(data.attrValue, profile);
  else if (data.attrName === 'src') data.keepAttr = imageAllowed(data.attrValue, profile);
}

function linkAllowed(value: string, profile: SanitizeProfile): boolean {
  const url = value.replace(URL_IGNORED, '');
  const scheme = SCHEME.exec(url)?.[1]?.toLowerCase();
  return scheme === undefined || profile.linkSchemes.includes(scheme);
}

function imageAllowed(value: string, profile: SanitizeProfile): boolean {
  const url = value.replace(URL_IGNORED, '');
  if (profile.imageSources.includes('data-image') && DATA_IMAGE.test(url)) return true;
  return profile.imageSources.includes('https') && /^https:\/\//i.test(url);
}

/** DOMPurify settings for a profile, cached per profile object. */
const settings = new WeakMap<SanitizeProfile, Parameters<Purifier['sanitize']>[1]>();

function settingsFor(profile: SanitizeProfile): Parameters<Purifier['sanitize']>[1] {
  let config = settings.get(profile);
  if (config === undefined) {
    config = {
      ALLOWED_TAGS: [...profile.tags],
      ALLOWED_ATTR: [...profile.attributes],
      ALLOW_DATA_ATTR: false,
      ALLOW_ARIA_ATTR: false,
      ALLOW_UNKNOWN_PROTOCOLS: false,
      // DOMPurify checks URL attributes against this expression after the hook, which
      // applies the profile's schemes. DOMPurify admits `data:` in `src` of images on its own;
      // the hook decides those.
      ALLOWED_URI_REGEXP: /^(?:(?:https?|mailto|tel):|[^a-z]|[a-z+.-]+(?:[^a-z+.:-]|$))/i,
      KEEP_CONTENT: true,
      RETURN_TRUSTED_TYPE: false,
    };
    settings.set(profile, config);
  }
  return config;
}

/** A sanitizer with its own profiles and limits; `sanitizeHtml` uses a default one. */
export class HtmlSanitizer {
  private readonly profiles: Readonly<Record<string, SanitizeProfile>>;
  readonly maxLength: number;
  readonly maxDepth: number;

  constructor(options: HtmlSanitizerOptions = {}) {
    this.profiles = { ...builtinProfiles, ...options.profiles };
    this.maxLength = options.maxLength ?? DEFAULT_MAX_HTML_LENGTH;
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_HTML_DEPTH;
  }

  /**
   * Creates the shared DOM now rather than on the first request, which would otherwise wait
   * for it (about 0.1 to 1 s, depending on the machine's load).
   */
  warmUp(): void {
    sharedPurifier();
  }

  /** Checks whether `name` is a profile of this sanitizer. */
  hasProfile(name: string): boolean {
    return Object.hasOwn(this.profiles, name);
  }

  /**
   * Sanitizes `html` with the profile named `profileName`. Throws HtmlTooLargeError over the
   * length or depth limit, and an Error for an unknown profile.
   */
  sanitize(html: string, profileName: string): string {
    const profile = Object.hasOwn(this.profiles, profileName)
      ? this.profiles[profileName]
      : undefined;
    if (profile === undefined) throw new Error(`unknown sanitization profile "${profileName}"`);
    if (html.length > this.maxLength) throw new HtmlTooLargeError('maxLength', this.maxLength);
    // Text without these characters parses to one text node that serialises unchanged.
    // (The parser would turn `&` sequences into entities, NUL into nothing, CR LF into LF.)
    if (!NEEDS_PARSE.test(html)) return html;
    if (nestingDepth(html, this.maxDepth) > this.maxDepth)
      throw new HtmlTooLargeError('maxDepth', this.maxDepth);
    return stableSanitize(html, profile);
  }
}

/**
 * Sanitizes until the output no longer changes, for a maximum of three passes beyond the first.
 * DOMPurify's output is not always stable: content that the parser moved out of a table
 * (foster parenting) serialises inside the element it left, such as `<p><table><p>x`, and a
 * second leading newline in `<pre>` loses one newline per pass. If the output still changes, the text profile is applied to it, whose
 * output is stable.
 */
function stableSanitize(html: string, profile: SanitizeProfile): string {
  const purify = sharedPurifier();
  const config = settingsFor(profile);
  activeProfile = profile;
  try {
    let output = purify.sanitize(html, config) as string;
    for (let pass = 0; pass < MAX_EXTRA_PASSES; pass++) {
      const next = purify.sanitize(output, config) as string;
      if (next === output) return output;
      output = next;
    }
    // The text profile's output is text with `<`, `>` and `&` as entities, which parses back
    // to the same text node and so serialises the same way again.
    return purify.sanitize(output, settingsFor(builtinProfiles.text)) as string;
  } finally {
    activeProfile = undefined;
  }
}

let defaultSanitizer: HtmlSanitizer | undefined;

/**
 * Sanitizes an HTML string for storage or display with a built-in profile: `text` removes
 * all markup and keeps the text, `basic` keeps simple formatting and links, `rich` adds
 * headings, images, tables, quotes and code blocks. The result is stable:
 * `sanitizeHtml(sanitizeHtml(x, p), p) === sanitizeHtml(x, p)`.
 *
 * @example
 * sanitizeHtml('<b onclick="x()">hi</b><script>x()</script>', 'basic'); // '<b>hi</b>'
 */
export function sanitizeHtml(html: string, profile: 'text' | 'basic' | 'rich' = 'basic'): string {
  defaultSanitizer ??= new HtmlSanitizer();
  return defaultSanitizer.sanitize(html, profile);
}
