import { describe, expect, it } from 'vitest';

import { MAX_HTML_TOKENS, tokenizeHtml } from '../../../src/validation/waf/html-tokenizer.js';
import type { DetectContext, Paranoia } from '../../../src/validation/waf/types.js';
import { detectXss, MAX_HTML_INPUT } from '../../../src/validation/waf/xss.js';

const level = (paranoia: Paranoia): DetectContext => ({ paranoia, strict: false });
const strict: DetectContext = { paranoia: 1, strict: true };

function rules(input: string, context: DetectContext = level(1)): string[] {
  return detectXss(input, context)
    .filter((hit) => hit.score > 0)
    .map((hit) => hit.ruleId)
    .sort();
}

/** Titled attack fixtures, each with one rule it must raise at paranoia 1. */
const attacks: ReadonlyArray<readonly [string, string, string]> = [
  ['script element', '<script>alert(1)</script>', 'xss-001-script-element'],
  [
    'script with a slash separator',
    '<SCRIPT/XSS SRC="http://example.test/x.js"></SCRIPT>',
    'xss-001-script-element',
  ],
  [
    'script split by a filter',
    '<scr<script>ipt>alert(1)</scr<script>ipt>',
    'xss-001-script-element',
  ],
  ['img onerror', '<img src=x onerror=alert(1)>', 'xss-002-event-handler'],
  ['svg onload without a space', '<svg/onload=alert(1)>', 'xss-002-event-handler'],
  ['unclosed tag', '<svg onload=alert(1)//', 'xss-002-event-handler'],
  [
    'handler on a custom tag',
    '<x contenteditable onblur=alert(1)>lose focus!',
    'xss-002-event-handler',
  ],
  ['attribute breakout', '" onmouseover="alert(1)', 'xss-002-event-handler'],
  ['single-quote breakout', "' autofocus onfocus=alert(1) x='", 'xss-002-event-handler'],
  ['breakout into a tag', '"><svg onload=alert(1)//', 'xss-002-event-handler'],
  ['javascript href', '<a href="javascript:alert(1)">x</a>', 'xss-003-script-url'],
  [
    'entity-encoded scheme',
    '<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)>',
    'xss-003-script-url',
  ],
  ['tab inside the scheme', '<a href="jav&#x09;ascript:alert(1)">x</a>', 'xss-003-script-url'],
  ['formaction', '<button formaction=javascript:alert(1)>x</button>', 'xss-003-script-url'],
  [
    'xlink href in svg',
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    'xss-003-script-url',
  ],
  [
    'data url in an iframe',
    '<iframe src="data:text/html,<script>alert(1)</script>">',
    'xss-007-embedding-element',
  ],
  [
    'markup data url',
    '<object data="data:text/html;base64,PHNjcmlwdD4=">',
    'xss-004-markup-data-url',
  ],
  ['srcdoc', '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;">', 'xss-005-srcdoc'],
  ['css expression', '<div style="width: expr/**/ession(alert(1))">', 'xss-006-css-script'],
  ['css script url', '<div style="background:url(javascript:alert(1))">', 'xss-006-css-script'],
  [
    'meta refresh',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    'xss-010-meta-http-equiv',
  ],
  ['base href', '<base href="https://attacker.example/">', 'xss-008-base-href'],
  ['javascript url value', 'javascript:alert(document.cookie)', 'xss-012-script-url-value'],
  ['js string breakout', "';alert(String.fromCharCode(88,83,83))//", 'xss-014-script-breakout'],
  ['js operator breakout', "'-alert(1)-'", 'xss-014-script-breakout'],
  [
    'template expression',
    "{{constructor.constructor('alert(1)')()}}",
    'xss-015-template-expression',
  ],
  [
    'script in a comment',
    '<!--[if gte IE 4]><script>alert(1)</script><![endif]-->',
    'xss-001-script-element',
  ],
  [
    'svg animation sets a handler',
    '<svg><set attributeName="onmouseover" to="alert(1)"/></svg>',
    'xss-019-animated-attribute',
  ],
  ['utf-7 markup', "+ADw-script+AD4-alert('XSS')+ADw-/script+AD4-", 'xss-018-utf7-markup'],
];

describe('xss detector', () => {
  it.each(attacks)('%s raises its rule', (_title, input, ruleId) => {
    expect(rules(input)).toContain(ruleId);
  });

  it.each(attacks)('%s scores critical', (_title, input) => {
    const scores = detectXss(input, level(1)).map((hit) => hit.score);
    expect(Math.max(...scores)).toBe(5);
  });

  it('mixed case is the same attack', () => {
    expect(rules('<ScRiPt>alert(1)</sCrIpT>')).toContain('xss-001-script-element');
    expect(rules('<IMG SRC=JaVaScRiPt:alert(1)>')).toContain('xss-003-script-url');
    expect(rules('<sVg OnLoAd=alert(1)>')).toContain('xss-002-event-handler');
  });
});

/** Realistic API values that must pass at paranoia 1 in a free-text field. */
const benign = [
  'I love <3 this product!!!',
  'a < b and c > d',
  '5 > 3 and 2 < 4',
  'if a<b and c>d then swap',
  '<b>bold</b> text from a rich editor',
  '<p>Hello <em>world</em></p>',
  '<a href="https://example.com">link</a>',
  'Markdown: **bold**, _italic_, `code`, [link](https://example.com)',
  'javascript developer with 5 years of experience',
  'JavaScript: The Good Parts (2008)',
  'mailto:support@example.com?subject=Order%20issue',
  'john.doe+orders@example.co.uk',
  'O\'Brien said "hello"',
  'Ben is online=true today',
  'x = y + 1; // increments',
  'if (a && b) { return c; }',
  '{{ "".__class__.__mro__[2].__subclasses__()[40]("/etc/passwd").read() }}',
  '<foo val=“bar” />',
  'Use `onclick=handler()` in React',
  '<img src="https://cdn.example.com/a.png" alt="a">',
  'Email: <john@example.com>',
  '<!-- note -->',
];

describe('xss false positives', () => {
  it.each(benign)('passes %j', (input) => {
    expect(rules(input)).toEqual([]);
  });
});

describe('xss paranoia levels', () => {
  it('unknown tags from level 2', () => {
    expect(rules('<foo val=“bar” />', level(1))).toEqual([]);
    expect(rules('<foo val=“bar” />', level(2))).toContain('xss-021-markup');
  });

  it('formatting tags from level 3', () => {
    expect(rules('<b>bold</b>', level(2))).toEqual([]);
    expect(rules('<b>bold</b>', level(3))).toContain('xss-030-any-tag');
  });

  it('any on attribute from level 2', () => {
    expect(rules('<b onload!#$%=x>', level(1))).toEqual([]);
    expect(rules('<b onload!#$%=x>', level(2))).toContain('xss-022-event-attribute');
  });

  it('script expressions from level 2', () => {
    expect(rules('alert`1`', level(1))).toEqual([]);
    expect(rules('alert`1`', level(2))).toContain('xss-020-script-call');
  });
});

describe('xss strict sink', () => {
  it('any markup is critical', () => {
    expect(rules('<b>bold</b>', strict)).toContain('xss-050-sink-markup');
    expect(rules('Ben &amp; Jerry', strict)).toContain('xss-050-sink-markup');
  });

  it('plain text passes', () => {
    expect(rules('Ben & Jerry, 5 > 3', strict)).toEqual([]);
  });
});

describe('html tokenizer', () => {
  it('reads attributes per html', () => {
    const [tag] = tokenizeHtml('<img/src="a b"alt=c onerror = x >');
    expect(tag).toEqual({
      kind: 'start',
      name: 'img',
      closed: true,
      attributes: [
        { name: 'src', value: 'a b', hasValue: true },
        { name: 'alt', value: 'c', hasValue: true },
        { name: 'onerror', value: 'x', hasValue: true },
      ],
    });
  });

  it('ends comments at --!>', () => {
    const tokens = tokenizeHtml('<!-- a --!><img src=x onerror=alert(1)>');
    expect(tokens.map((token) => token.kind)).toEqual(['comment', 'start']);
  });

  it('output is bounded', () => {
    expect(tokenizeHtml('<a>'.repeat(40_000)).length).toBe(MAX_HTML_TOKENS);
  });

  it('script after many harmless tags', () => {
    expect(rules(`${'<b>x</b>'.repeat(2000)}<script>alert(1)</script>`)).toContain(
      'xss-001-script-element',
    );
  });

  it('handler after many attributes', () => {
    expect(rules(`<img ${'a '.repeat(500)}src=x onerror=alert(1)>`)).toContain(
      'xss-002-event-handler',
    );
  });

  it('padding before a script scheme', () => {
    const padded = `<a href="${'&#x09;'.repeat(2000)}${' '.repeat(5000)}javascript:alert(1)">x</a>`;
    expect(rules(padded)).toContain('xss-003-script-url');
  });

  it('unclosed css comments stay linear', () => {
    expect(rules(`<style>${'/*'.repeat(30_000)}`, level(1))).toEqual([]);
  });

  it('long input gets a prefix note', () => {
    const hits = detectXss(`${'x'.repeat(MAX_HTML_INPUT)}<script>`, level(1));
    expect(hits).toEqual([{ ruleId: 'xss-099-inspected-prefix', family: 'xss', score: 0 }]);
  });
});

/** Technical prose that paranoia 1 once blocked. */
describe('xss technical prose', () => {
  it('prose handler from level 2', () => {
    expect(rules('Set onclick=doIt() on the button', level(1))).toEqual([]);
    expect(rules('Set onclick=doIt() on the button', level(2))).toContain(
      'xss-025-bare-event-handler',
    );
  });

  it('unquoted handler calling a global', () => {
    expect(rules('x onclick=alert(1)')).toContain('xss-002-event-handler');
    expect(rules('x onfocus=location.hash')).toContain('xss-002-event-handler');
    expect(rules('x autofocus onfocus=document.write(1)')).toContain('xss-002-event-handler');
  });

  it.each([
    "'Total' + SUM(A1) + 'x'",
    '`7d`, or `forever`); `audit.retention.default` applies to the others.',
    'deleting any `-wal` and `-shm` files beside it.',
    '- `X-RateLimit-Limit`, `-Remaining`, `-Reset` describe the most restrictive limit only.',
    'Component parameters (`;sf`, `;key`, `;bs`, `;req`) and `@query-param` are not',
    'Call `setTimeout(fn, 0)` to yield to the event loop.',
  ])('passes %j', (input) => {
    expect(rules(input)).toEqual([]);
  });

  it.each([
    'Is a `<script>` tag allowed in the page template?',
    'Put the <script> tag at the end of <body> so the page renders first.',
    'Use <script type=module> and the browser defers it for you.',
    '<SCRIPT>',
  ])('prose script tag %j from level 2', (input) => {
    expect(rules(input, level(1))).toEqual([]);
    expect(rules(input, level(2))).toContain('xss-026-script-tag-named');
  });

  it.each([
    ['closed', '<script></script>'],
    ['followed by a call', '<script>alert(1)'],
    ['mixed case with a call', '<ScRiPt>prompt(1)'],
    ['loading a file', '<script src=//example.test/x.js>'],
    ['loading a file by a namespaced href', "<svg><script x:href='//example.test/x.js'"],
    ['with an assignment', '<script>a=/XSS/'],
    ['in VBScript', '<svg contentScriptType=text/vbs><script>MsgBox+1'],
    ['after closing the page script', '*/alert(1)</script><script>/*'],
    ['split across comments', "<!--'<SCRIPT SRC'--><!--'=//example.test/x.js></SCRIPT>'-->"],
    ['named in prose and then called', 'Put the <script> tag in <head> and call init()'],
  ])('script tag %s at level 1', (_title, input) => {
    expect(rules(input, level(1))).toContain('xss-001-script-element');
  });

  it('odd quote still breaks out', () => {
    expect(rules("'-alert(1)-'")).toContain('xss-014-script-breakout');
    expect(rules('x`-alert`1`-')).toContain('xss-014-script-breakout');
    expect(rules(`it"s 'a' b';alert(1)//`)).toContain('xss-014-script-breakout');
  });
});
