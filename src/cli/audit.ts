import type { Command } from 'commander';

/**
 * `bulwark audit verify|tail|export`: reads the tamper-evident audit log of a gateway's
 * configuration (SQLite in the data directory, or PostgreSQL when `storage.postgres` is set).
 */
export function registerAuditCommands(program: Command): Command {
  const audit = program
    .command('audit')
    .description('Verify, follow and export the tamper-evident audit log.');
  return audit;
}
