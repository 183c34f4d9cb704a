/**
 * Cost of schema validation plus injection detection on a typical 2 KB JSON body, against
 * JSON.parse of the same body in the same process:
 *
 *   npx tsx bench/inspect-speed.ts [samples, default 20000]
 *
 * The body is an order with a customer, an address, five line items, tags and free-text
 * notes (apostrophes, punctuation, a URL, an email address), about 2 KB. Each sample times
 * one call after a warm-up, in wall time (process.hrtime.bigint()) and in CPU time of the
 * process (process.cpuUsage(), microsecond resolution). CPU time is steadier on a shared
 * machine because time spent preempted is not counted. The script prints p50, p99 and mean
 * of both in microseconds, and the ratio of the means to those of JSON.parse.
 *
 * "validate + detect" is what the input guards add to a request whose body is already parsed:
 * the compiled JSON Schema (ajv, as the schema guard compiles it) and inspectKey/inspectValue
 * at paranoia 1 on every key and string. Run with tsx, the code also calls esbuild's
 * `__name` helper for each closure it creates, which the compiled package does not.
 */
import { compilePart } from '../src/validation/schema/compile.js';
import { inspectKey, inspectValue } from '../src/validation/waf/engine.js';
import type { Paranoia } from '../src/validation/waf/types.js';

const SAMPLES = Number(process.argv[2] ?? 20_000);
const WARMUP = 2_000;

const item = (n: number): Record<string, unknown> => ({
  sku: `SKU-000${n}-XL`,
  name: [
    'Café au lait mug',
    "Men's rain jacket",
    'USB-C cable (2 m)',
    'Notebook, A5, dotted',
    'Tea: Earl Grey',
  ][n],
  quantity: n + 1,
  unitPrice: 12.5 + n,
  note: n % 2 === 0 ? 'Gift wrap, please' : "Don't bend the box",
});

const order = {
  orderId: 'ORD-2026-000917',
  createdAt: '2026-03-14T09:26:53.589Z',
  customer: {
    id: '550e8400-e29b-41d4-a716-446655440000',
    name: "Conan O'Brien",
    email: 'john.doe+orders@example.co.uk',
    phone: '+1 (555) 010-4477',
  },
  shipping: {
    street: 'Apt. #5, 221B Baker St.',
    city: 'London',
    postcode: 'NW1 6XE',
    country: 'GB',
    instructions: 'Please leave the parcel at the back door -- the front bell is broken; thanks!',
  },
  items: [0, 1, 2, 3, 4].map(item),
  tags: ['gift', 'express', 'returning-customer', 'newsletter'],
  coupon: 'SPRING-10',
  referrer: 'https://shop.example.org/p/12345?utm_source=newsletter&utm_medium=email',
  comment:
    "I'd like to select the blue one, or maybe the red one. Where is my previous order #4521? " +
    'It said 2-3 days. Total was 1,299.00 EUR (incl. 19% VAT) & the invoice is at ' +
    'C:\\Users\\Public\\Documents\\invoice.pdf on my side. Use "fragile" stickers if possible: ' +
    'the last mug arrived broken :( but support was great, 10/10.',
  gift: { from: 'Sinéad', message: 'Happy birthday! 🎉 Enjoy the tea & the rainy walks.' },
  billing: {
    company: "O'Reilly Media, Inc.",
    vatId: 'GB123456789',
    contact: 'firstname.lastname@sub.example.museum',
    address: 'Café Müller — Straße 5, 10115 Berlin',
  },
  support: {
    ticket:
      'It says "access denied" when I try to log in; the error log mentions /home/alice/app.log',
    priority: 'normal',
    channel: 'email',
  },
};

const stringSchema = { type: 'string', maxLength: 1000 };
const schema = {
  type: 'object',
  required: ['orderId', 'createdAt', 'customer', 'items'],
  properties: {
    orderId: { type: 'string', pattern: '^ORD-\\d{4}-\\d{6}$' },
    createdAt: { type: 'string', format: 'date-time' },
    customer: {
      type: 'object',
      properties: {
        id: { type: 'string', format: 'uuid' },
        name: stringSchema,
        email: { type: 'string', format: 'email' },
        phone: stringSchema,
      },
    },
    shipping: {
      type: 'object',
      properties: {
        street: stringSchema,
        city: stringSchema,
        postcode: stringSchema,
        country: { type: 'string', enum: ['GB', 'DE', 'FR', 'US'] },
        instructions: stringSchema,
      },
    },
    items: {
      type: 'array',
      maxItems: 50,
      items: {
        type: 'object',
        properties: {
          sku: stringSchema,
          name: stringSchema,
          quantity: { type: 'integer', minimum: 1, maximum: 100 },
          unitPrice: { type: 'number', minimum: 0 },
          note: stringSchema,
        },
      },
    },
    tags: { type: 'array', items: stringSchema },
    coupon: stringSchema,
    referrer: { type: 'string', format: 'uri' },
    comment: stringSchema,
    gift: { type: 'object', properties: { from: stringSchema, message: stringSchema } },
    billing: {
      type: 'object',
      properties: {
        company: stringSchema,
        vatId: { type: 'string', pattern: '^[A-Z]{2}[0-9A-Z]{2,12}$' },
        contact: { type: 'string', format: 'email' },
        address: stringSchema,
      },
    },
    support: {
      type: 'object',
      properties: {
        ticket: stringSchema,
        priority: { type: 'string', enum: ['low', 'normal', 'high'] },
        channel: stringSchema,
      },
    },
  },
};

const body = JSON.stringify(order);
const validator = compilePart(
  { kind: 'json', schema },
  {
    part: 'body',
    unknownFields: 'reject',
    redos: 'reject',
    maxPatternInput: 4096,
    configPath: 'bench.validate.body',
    warn: () => undefined,
  },
);

/** Inspects every key and string of `value`, as the injection guard's walk does. */
function detect(value: unknown, paranoia: Paranoia): number {
  let hits = 0;
  if (typeof value === 'string') return inspectValue(value, { paranoia }).length;
  if (Array.isArray(value)) {
    for (const entry of value) hits += detect(entry, paranoia);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, entry] of Object.entries(value)) {
      hits += inspectKey(key, { paranoia }).length;
      hits += detect(entry, paranoia);
    }
  }
  return hits;
}

interface Stats {
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
  /** CPU time of this process per call, which leaves out time spent preempted. */
  readonly cpuP50: number;
  readonly cpuP99: number;
  readonly cpuMean: number;
}

function percentile(sorted: Float64Array, fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

function average(times: Float64Array): number {
  return times.reduce((sum, time) => sum + time, 0) / times.length;
}

function measure(run: () => unknown): Stats {
  for (let i = 0; i < WARMUP; i++) run();
  const wall = new Float64Array(SAMPLES);
  const cpu = new Float64Array(SAMPLES);
  for (let i = 0; i < SAMPLES; i++) {
    const cpuStart = process.cpuUsage();
    const start = process.hrtime.bigint();
    run();
    wall[i] = Number(process.hrtime.bigint() - start) / 1000;
    const used = process.cpuUsage(cpuStart);
    cpu[i] = used.user + used.system;
  }
  wall.sort();
  cpu.sort();
  return {
    p50: percentile(wall, 0.5),
    p99: percentile(wall, 0.99),
    mean: average(wall),
    cpuP50: percentile(cpu, 0.5),
    cpuP99: percentile(cpu, 0.99),
    cpuMean: average(cpu),
  };
}

function main(): void {
  const parsed = JSON.parse(body) as unknown;
  const result = validator.validate(structuredClone(parsed), false);
  if (result.issues.length > 0)
    throw new Error(`the bench body fails its schema: ${JSON.stringify(result.issues)}`);
  const hits = detect(parsed, 1);
  if (hits > 0) throw new Error(`the bench body matched ${hits} detection rules at paranoia 1`);

  const contenders: ReadonlyArray<readonly [string, () => unknown]> = [
    ['JSON.parse (peer)', () => JSON.parse(body)],
    ['validate', () => validator.validate(parsed, false)],
    ['detect, paranoia 1', () => detect(parsed, 1)],
    ['validate + detect, paranoia 1', () => (validator.validate(parsed, false), detect(parsed, 1))],
    ['validate + detect, paranoia 4', () => (validator.validate(parsed, false), detect(parsed, 4))],
    [
      'parse + validate + detect, paranoia 1',
      () => detect(validator.validate(JSON.parse(body), false).value, 1),
    ],
  ];

  console.log(
    `Body: ${Buffer.byteLength(body)} bytes; ${SAMPLES} samples after ${WARMUP} warm-up calls.\n`,
  );
  const results = contenders.map(([name, run]) => [name, measure(run)] as const);
  const peer = results[0]![1];
  console.log(
    '| contender | p50 µs | p99 µs | mean µs | CPU p50 µs | CPU p99 µs | CPU mean µs | mean ratio | CPU mean ratio |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [name, stats] of results) {
    const cells = [stats.p50, stats.p99, stats.mean, stats.cpuP50, stats.cpuP99, stats.cpuMean];
    const ratios = [stats.mean / peer.mean, stats.cpuMean / peer.cpuMean];
    console.log(
      `| ${name} | ${cells.map((cell) => cell.toFixed(1)).join(' | ')} | ` +
        `${ratios.map((ratio) => ratio.toFixed(2)).join(' | ')} |`,
    );
  }
}

main();
