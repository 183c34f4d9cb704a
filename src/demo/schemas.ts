/**
 * JSON Schemas of the demo routes with a body. They are written as files into the demo's
 * data folder at start, because `npm start` runs the compiled JavaScript, which carries no
 * JSON files, and the configuration names schemas by file as a real deployment would.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const schemas = {
  login: {
    type: 'object',
    required: ['username', 'password'],
    properties: {
      username: { type: 'string', format: 'email', maxLength: 254 },
      password: { type: 'string', minLength: 1, maxLength: 200 },
    },
  },
  order: {
    type: 'object',
    required: ['item', 'quantity'],
    properties: {
      item: { type: 'string', minLength: 1, maxLength: 100, pattern: '^[\\p{L}\\p{N} .,-]+$' },
      quantity: { type: 'integer', minimum: 1, maximum: 1000 },
      /** A note for the order, in HTML; the gateway sanitizes it with the `basic` profile. */
      note: { type: 'string', maxLength: 4000 },
    },
  },
};

/** Writes the schemas into `dir` and returns their paths by name. */
export function writeDemoSchemas(dir: string): Record<keyof typeof schemas, string> {
  mkdirSync(dir, { recursive: true });
  const paths = {} as Record<keyof typeof schemas, string>;
  for (const [name, schema] of Object.entries(schemas)) {
    const path = join(dir, `${name}.json`);
    writeFileSync(path, `${JSON.stringify(schema, null, 2)}\n`);
    paths[name as keyof typeof schemas] = path;
  }
  return paths;
}
