/**
 * Evaluations per second of typical expressions: Bulwark's expression engine against
 * @n8n/tournament on the same expressions and the same data, cached and uncached.
 *
 *   npx tsx bench/expression.ts [milliseconds per measurement, default 400]
 *
 * Cached: both engines keep compiled expressions (Bulwark's LRU cache, tournament's code
 * cache). Uncached: every evaluation parses again (a Bulwark engine with `cacheSize: 0`, a
 * new Tournament per evaluation). Bulwark reads plain data in place through checked
 * descriptor reads and copies only the objects and arrays an evaluation keeps, here the
 * items array passed to `filter`. Prepared data is copied once, so both forms are measured.
 * Tournament reads the caller's objects as they are. Tournament gets the same `$json`. Its
 * `$now` is a small object whose `plus` returns a host Date, because the peer has no date
 * value of its own.
 * Measurements alternate between contenders for three rounds; the table shows the best of
 * the three and ratios are Bulwark ÷ tournament.
 */
import { Tournament } from '@n8n/tournament';

import { ExpressionEngine, type ExpressionData } from '../src/expression/engine.js';

const MS = Number(process.argv[2] ?? 400);
const ROUNDS = 3;

const json = {
  order: {
    id: 'A-1001',
    total: 249.9,
    currency: 'EUR',
    customer: { name: '  ada lovelace ', email: 'ada@example.com' },
    items: Array.from({ length: 10 }, (_, index) => ({
      sku: `sku-${index}`,
      price: 5 + index * 3,
      qty: 1 + (index % 3),
    })),
  },
};

const cases: Array<{ name: string; source: string }> = [
  { name: 'arithmetic on $json', source: '$json.order.total * 1.2' },
  { name: 'string helpers', source: '$json.order.customer.name.trim().toUpperCase()' },
  {
    name: 'array map and filter',
    source: '$json.order.items.filter(i => i.price > 10).map(i => i.price * i.qty)',
  },
  { name: 'conditional', source: "$json.order.total > 100 ? 'large' : 'small'" },
  { name: 'date plus', source: "$now.plus(1, 'day')" },
];
const template = {
  name: 'template, 3 parts',
  source: 'Order {{ $json.order.id }}: {{ $json.order.total * 1.2 }} {{ $json.order.currency }}',
};

const tournamentData = {
  $json: json,
  $now: { plus: (amount: number) => new Date(Date.now() + amount * 86_400_000) },
};

function rate(run: () => unknown): number {
  // A short warm-up, then as many evaluations as fit in MS milliseconds.
  for (let index = 0; index < 200; index++) run();
  let count = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < MS) {
    for (let index = 0; index < 100; index++) run();
    count += 100;
    elapsed = performance.now() - start;
  }
  return (count / elapsed) * 1000;
}

function format(perSecond: number): string {
  return perSecond >= 1e6
    ? `${(perSecond / 1e6).toFixed(2)} M/s`
    : `${(perSecond / 1e3).toFixed(1)} k/s`;
}

const cached = new ExpressionEngine();
const uncached = new ExpressionEngine({ cacheSize: 0 });
const tournament = new Tournament(() => {});
const prepared = cached.prepare({ $json: json });

interface Row {
  name: string;
  contenders: Record<string, () => unknown>;
}

const rows: Row[] = [...cases, template].map(({ name, source }) => {
  const isTemplate = source.includes('{{');
  const wrapped = isTemplate ? source : `{{ ${source} }}`;
  const ours = (engine: ExpressionEngine, data: ExpressionData) =>
    isTemplate ? () => engine.renderTemplate(source, data) : () => engine.evaluate(source, data);
  return {
    name,
    contenders: {
      'tournament cached': () => tournament.execute(wrapped, tournamentData),
      'bulwark cached': ours(cached, { $json: json }),
      'bulwark cached, prepared data': ours(cached, prepared),
      'tournament uncached': () => new Tournament(() => {}).execute(wrapped, tournamentData),
      'bulwark uncached': ours(uncached, { $json: json }),
    },
  };
});

// Both engines must agree before their speed is compared.
for (const { name, source } of [...cases.slice(0, 4), template]) {
  const isTemplate = source.includes('{{');
  const theirs = tournament.execute(isTemplate ? source : `{{ ${source} }}`, tournamentData);
  const mine = isTemplate
    ? cached.renderTemplate(source, { $json: json })
    : cached.evaluate(source, { $json: json });
  if (JSON.stringify(theirs) !== JSON.stringify(mine))
    throw new Error(
      `${name}: results differ: ${JSON.stringify(theirs)} vs ${JSON.stringify(mine)}`,
    );
}

const best = new Map<string, number>();
for (let round = 0; round < ROUNDS; round++) {
  for (const row of rows) {
    for (const [contender, run] of Object.entries(row.contenders)) {
      const key = `${row.name}|${contender}`;
      best.set(key, Math.max(best.get(key) ?? 0, rate(run)));
    }
  }
}

console.log(
  `expression evaluations per second, best of ${ROUNDS} rounds of ${MS} ms (Node ${process.version})`,
);
console.log(
  '| expression | tournament cached | bulwark cached | ratio | prepared data | ratio | tournament uncached | bulwark uncached | ratio |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const row of rows) {
  const get = (contender: string) => best.get(`${row.name}|${contender}`)!;
  const tc = get('tournament cached');
  const bc = get('bulwark cached');
  const bp = get('bulwark cached, prepared data');
  const tu = get('tournament uncached');
  const bu = get('bulwark uncached');
  console.log(
    `| ${row.name} | ${format(tc)} | ${format(bc)} | ${(bc / tc).toFixed(2)} | ${format(bp)} | ${(bp / tc).toFixed(2)} | ${format(tu)} | ${format(bu)} | ${(bu / tu).toFixed(2)} |`,
  );
}
