/**
 * Cost of Bulwark's HTML sanitization against one plain DOMPurify call with the same
 * settings, in the same process. The peer runs on its own empty jsdom window, like the one
 * Bulwark creates:
 *
 *   npx tsx bench/sanitize.ts [samples, default 2000]
 *
 * The input is a rich-text post of about 0.5 KB (paragraphs, a list, a link, an image, a
 * table, an event handler and a script to remove). Bulwark's call adds the URL hook, the
 * length and depth checks, and the second pass that proves the output stable, so a ratio
 * near 2 is expected. Each sample times one call with process.hrtime.bigint() after a
 * warm-up. The script prints p50, p99 and mean in microseconds, and the ratios of p50 and
 * mean to the peer's. The p50 ratio is the steadier one on a shared machine.
 */
import { createRequire } from 'node:module';

import type createDOMPurifyType from 'dompurify';
import type { JSDOM as JsdomType } from 'jsdom';

import { sanitizeHtml } from '../src/validation/sanitize/html.js';
import { builtinProfiles } from '../src/validation/sanitize/profiles.js';

const require = createRequire(import.meta.url);
const { JSDOM } = require('jsdom') as { JSDOM: typeof JsdomType };
const createDOMPurify = require('dompurify') as typeof createDOMPurifyType;

const SAMPLES = Number(process.argv[2] ?? 2_000);
const WARMUP = 200;

const post =
  '<h2>Trip report</h2><p>We walked <b>12 km</b> along the <i>coast</i>, see ' +
  '<a href="https://example.org/map">the map</a> and <a href="javascript:alert(1)">this</a>.</p>' +
  '<ul><li>Start: 09:00</li><li>Lunch &amp; rest</li><li>Back by 17:30</li></ul>' +
  '<img src="https://example.org/photo.jpg" alt="The bay" onerror="steal()">' +
  '<table><tr><th>Day</th><th>km</th></tr><tr><td>Mon</td><td>12</td></tr></table>' +
  '<blockquote>Best walk of the year.</blockquote><script>track()</script>' +
  '<pre><code>gpx export --day 1</code></pre><p style="color:red">Thanks!</p>';

const purify = createDOMPurify(
  new JSDOM('').window as unknown as Parameters<typeof createDOMPurify>[0],
);
const rich = builtinProfiles.rich;
const peerConfig = {
  ALLOWED_TAGS: [...rich.tags],
  ALLOWED_ATTR: [...rich.attributes],
  KEEP_CONTENT: true,
};

function measure(run: () => void): { p50: number; p99: number; mean: number } {
  for (let i = 0; i < WARMUP; i++) run();
  const times: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const start = process.hrtime.bigint();
    run();
    times.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  times.sort((a, b) => a - b);
  const mean = times.reduce((sum, time) => sum + time, 0) / times.length;
  return {
    p50: times[Math.floor(times.length * 0.5)]!,
    p99: times[Math.floor(times.length * 0.99)]!,
    mean,
  };
}

const peer = measure(() => purify.sanitize(post, peerConfig));
const ours = measure(() => sanitizeHtml(post, 'rich'));

function row(name: string, result: ReturnType<typeof measure>, base = result): string {
  const micros = (value: number) => `${value.toFixed(0).padStart(6)} µs`;
  return [
    name.padEnd(34),
    `p50 ${micros(result.p50)}`,
    `p99 ${micros(result.p99)}`,
    `mean ${micros(result.mean)}`,
    `ratio p50 ${(result.p50 / base.p50).toFixed(2)}`,
    `mean ${(result.mean / base.mean).toFixed(2)}`,
  ].join('  ');
}

console.log(`input ${post.length} characters, ${SAMPLES} samples`);
console.log(row('DOMPurify.sanitize, one pass', peer));
console.log(row('sanitizeHtml(rich), stable output', ours, peer));
