import type { Command } from 'commander';

import { formatDuration } from '../core/duration.js';
import {
  DEFAULT_GRACE_MS,
  parseNewApiKey,
  parseRotation,
  type ApiKeyView,
} from '../gateway/credential-input.js';
import {
  collectWords,
  nameAndOwner,
  ownerFilter,
  printFields,
  printJson,
  printTable,
  shortTime,
  valueOrUsageError,
  withCommonOptions,
  withCredentials,
  type CommonOptions,
} from './credentials.js';

/** `bulwark keys create|list|show|rotate|revoke`. */

interface CreateOptions extends CommonOptions {
  name?: string;
  owner?: string;
  env?: string;
  scope?: string[];
  plan?: string;
  expires?: string;
  expiresAt?: string;
}

const SHOWN_ONCE = 'Save this key now: it is not shown again and cannot be recovered.';

export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description('Create and manage API keys.');

  withCommonOptions(keys.command('create'))
    .description('Create an API key and print it once.')
    .option('--name <name>', 'what the key is for, e.g. "billing service" (required)')
    .option('--owner <owner>', 'team or person responsible for the key (required)')
    .option('--env <env>', 'environment in the key prefix, e.g. live or test', 'live')
    .option(
      '--scope <scope>',
      'a scope the key grants; repeat it or separate scopes with spaces',
      collectWords,
    )
    .option('--plan <plan>', 'rate-limit tier, matched against the tiers of rate limits')
    .option('--expires <duration>', 'lifetime from now, e.g. 90d')
    .option('--expires-at <time>', 'expiry as an RFC 3339 time, e.g. 2027-01-01T00:00:00Z')
    .action((options: CreateOptions) => createKey(options));

  withCommonOptions(keys.command('list'))
    .description('List API keys, oldest first.')
    .option('--owner <owner>', 'only keys of this owner')
    .action((options: CommonOptions & { owner?: string }) => listKeys(options));

  withCommonOptions(keys.command('show <id>'))
    .description('Show one API key by its id.')
    .action((id: string, options: CommonOptions) => showKey(id, options));

  withCommonOptions(keys.command('rotate <id>'))
    .description('Issue a successor key; the old one keeps working for the grace period.')
    .option(
      '--grace <duration>',
      `how long the old key keeps working, 0s to 90d (default ${formatDuration(DEFAULT_GRACE_MS)})`,
    )
    .action((id: string, options: CommonOptions & { grace?: string }) => rotateKey(id, options));

  withCommonOptions(keys.command('revoke <id>'))
    .description('Revoke an API key at once.')
    .action((id: string, options: CommonOptions) => revokeKey(id, options));
}

async function createKey(options: CreateOptions): Promise<void> {
  const raw = {
    name: options.name,
    owner: options.owner,
    env: options.env,
    scopes: options.scope,
    plan: options.plan,
    expiresIn: options.expires,
    expiresAt: options.expiresAt,
  };
  const input = valueOrUsageError(parseNewApiKey(raw, Date.now()), {
    name: { flag: '--name', value: options.name },
    owner: { flag: '--owner', value: options.owner },
    env: { flag: '--env', value: options.env },
    scopes: { flag: '--scope', value: options.scope },
    plan: { flag: '--plan', value: options.plan },
    expiresIn: { flag: '--expires', value: options.expires },
    expiresAt: { flag: '--expires-at', value: options.expiresAt },
  });

  await withCredentials(options, async ({ manager, json, recordChange }) => {
    const issued = await manager.createKey(input);
    const { record } = issued;
    await recordChange('API key created', [{ kind: 'apiKey', id: record.id }], {
      event: 'credential.created',
      keyId: record.id,
      owner: record.owner,
    });

    if (json) return printJson(issued);
    console.log(`Created API key ${record.id} (${nameAndOwner(record)}, env ${record.env}).`);
    printKey(issued.key);
  });
}

async function listKeys(options: CommonOptions & { owner?: string }): Promise<void> {
  const filter = ownerFilter(options.owner);

  await withCredentials(options, async ({ manager, json }) => {
    const keys = await manager.listKeys(filter);
    if (json) return printJson(keys);
    if (keys.length === 0) return console.log('No API keys.');
    printTable(
      ['ID', 'NAME', 'OWNER', 'ENV', 'SCOPES', 'PLAN', 'STATUS', 'CREATED', 'EXPIRES', 'LAST USED'],
      keys.map((key) => [
        key.id,
        key.name,
        key.owner,
        key.env,
        key.scopes.join(' ') || '-',
        key.plan ?? '-',
        key.status,
        shortTime(key.createdAt),
        shortTime(key.expiresAt),
        shortTime(key.lastUsedAt),
      ]),
    );
  });
}

async function showKey(id: string, options: CommonOptions): Promise<void> {
  await withCredentials(options, async ({ manager, json }) => {
    const key = await manager.getKey(id);
    if (json) return printJson(key);
    printDetails(key);
  });
}

async function rotateKey(id: string, options: CommonOptions & { grace?: string }): Promise<void> {
  const { graceMs } = valueOrUsageError(parseRotation({ grace: options.grace }), {
    grace: { flag: '--grace', value: options.grace },
  });

  await withCredentials(options, async ({ manager, json, recordChange }) => {
    const rotated = await manager.rotateKey(id, graceMs);
    const successor = rotated.record.id;
    await recordChange(
      'API key rotated',
      [
        { kind: 'apiKey', id },
        { kind: 'apiKey', id: successor },
      ],
      {
        event: 'credential.rotated',
        keyId: id,
        successorId: successor,
        graceMs,
        owner: rotated.previous.owner,
      },
    );

    if (json) return printJson(rotated);
    console.log(`Rotated API key ${id}: its successor is ${successor}.`);
    console.log(`The old key works until ${shortTime(rotated.previous.expiresAt)} UTC.`);
    printKey(rotated.key);
  });
}

async function revokeKey(id: string, options: CommonOptions): Promise<void> {
  await withCredentials(options, async ({ manager, json, recordChange }) => {
    const revoked = await manager.revokeKey(id);
    await recordChange('API key revoked', [{ kind: 'apiKey', id }], {
      event: 'credential.revoked',
      keyId: id,
      owner: revoked.owner,
    });

    if (json) return printJson(revoked);
    console.log(`Revoked API key ${id} (${nameAndOwner(revoked)}).`);
  });
}

function printKey(key: string): void {
  console.log(`\n  ${key}\n`);
  console.log(SHOWN_ONCE);
}

function printDetails(key: ApiKeyView): void {
  printFields([
    ['id', key.id],
    ['name', key.name],
    ['owner', key.owner],
    ['env', key.env],
    ['scopes', key.scopes.join(' ') || '-'],
    ['plan', key.plan ?? '-'],
    ['status', key.status],
    ['created', shortTime(key.createdAt)],
    ['expires', shortTime(key.expiresAt)],
    ['last used', shortTime(key.lastUsedAt)],
    ['replaced by', key.replacedBy ?? '-'],
  ]);
}
