/**
 * JSON Schemas of the demo routes with a body. They are written as files into the demo's
 * data folder at start, because `npm start` runs the compiled JavaScript, which carries no
 * JSON files, and the configuration names schemas by file as a real deployment would.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const schemas = {
  // The demo API reads `username`. The schema accepts `email` too, because the injection
  // detection example of the README posts `email` and should reach the injection guard.
  login: {
    type: 'object',
    required: ['password'],
    properties: {
      username: { type: 'string', maxLength: 254 },
      email: { type: 'string', maxLength: 254 },
      password: { type: 'string', minLength: 1, maxLength: 200 },
    },
  },
  order: {
    type: 'object',
    required: ['item', 'quantity'],
    properties: {
      item: { type: 'string', minLength: 1, maxLength: 100, notBlank: true },
      quantity: { type: 'integer', minimum: 1, maximum: 1000 },
      // A note for the order, in HTML, which the gateway sanitizes with the `basic` profile.
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
