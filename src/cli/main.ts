#!/usr/bin/env node
import { Command } from 'commander';

import { loadConfigFile } from '../core/config.js';
import { BulwarkError } from '../core/errors.js';
import { silentLogger } from '../core/logger.js';
import { createInputGuards, describePatternWarning } from '../validation/schema/setup.js';
import { registerAuditCommands } from './audit.js';
import { registerBanCommands } from './bans.js';
import { registerClientCommands } from './clients.js';
import { registerKeyCommands } from './keys.js';
import { registerSignCommand } from './sign.js';
import { startCommand, UsageError } from './start.js';

const program = new Command()
  .name('bulwark')
  .description('Runtime protection for HTTP APIs: a gateway that enforces rate limits and guards.')
  .version('0.1.0');

program
  .command('start')
  .description('Run the gateway in front of an upstream API.')
  .option('-c, --config <file>', 'configuration file (bulwark.yaml)')
  .option('-u, --upstream <url>', 'upstream base URL, for a quick start with the default policy')
  .option('-p, --port <port>', 'listening port (default 8080)')
  .option('-H, --host <host>', 'listening address (default 127.0.0.1)')
  .action(startCommand);

const config = program.command('config').description('Work with configuration files.');
config
  .command('check <file>')
  .description('Validate a configuration file without starting; exit status 0 when valid.')
  .action((file: string) => {
    const loaded = loadConfigFile(file);
    // Route schemas are files of their own, compiled at start; a broken one fails the check.
    const guards = createInputGuards(loaded, silentLogger);
    // Patterns kept under validation.redos: warn do not fail the check, but must be seen.
    for (const warning of guards.patternWarnings)
      console.error(`bulwark: warning: ${describePatternWarning(warning)}`);
    const routes = loaded.routes.length;
    const limits =
      loaded.rateLimits.length +
      loaded.routes.reduce((sum, route) => sum + route.rateLimits.length, 0);
    console.log(
      `${file}: valid (${plural(routes, 'route')}, ${plural(limits, 'rate limit')}, store ${loaded.storage.redis ? 'redis' : 'memory'})`,
    );
  });

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

registerKeyCommands(program);
registerClientCommands(program);
registerBanCommands(program);
registerSignCommand(program);
registerAuditCommands(program);

// A command that failed exits at once: a gateway that threw while starting may already have
// opened connections (Redis, timers) that would otherwise keep the process alive, serving
// nothing.
program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof BulwarkError || error instanceof UsageError) {
    console.error(`bulwark: ${error.message}`);
    process.exit(2);
  }
  console.error('bulwark: unexpected error:', error);
  process.exit(1);
});
