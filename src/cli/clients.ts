import type { Command } from 'commander';

import { formatDuration } from '../core/duration.js';
import type { IssuedClientSecret } from '../gateway/credential-admin.js';
import {
  DEFAULT_GRACE_MS,
  parseNewClient,
  parseRotation,
  type ClientView,
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

/** `bulwark clients create|list|show|rotate-secret|delete`: OAuth 2.0 clients. */

interface CreateOptions extends CommonOptions {
  name?: string;
  owner?: string;
  scope?: string[];
  plan?: string;
}

const SHOWN_ONCE = 'Save this secret now: it is not shown again and cannot be recovered.';

export function registerClientCommands(program: Command): void {
  const clients = program
    .command('clients')
    .description('Create and manage OAuth 2.0 clients (client-credentials grant).');

  withCommonOptions(clients.command('create'))
    .description('Create a client and print its secret once.')
    .option('--name <name>', 'what the client is, e.g. "billing service" (required)')
    .option('--owner <owner>', 'team or person responsible for the client (required)')
    .option(
      '--scope <scope>',
      'a scope the client may request; repeat it or separate scopes with spaces',
      collectWords,
    )
    .option('--plan <plan>', "rate-limit tier of the client's tokens")
    .action((options: CreateOptions) => createClient(options));

  withCommonOptions(clients.command('list'))
    .description('List clients, oldest first.')
    .option('--owner <owner>', 'only clients of this owner')
    .action((options: CommonOptions & { owner?: string }) => listClients(options));

  withCommonOptions(clients.command('show <client_id>'))
    .description('Show one client and the ids of its secrets.')
    .action((id: string, options: CommonOptions) => showClient(id, options));

  withCommonOptions(clients.command('rotate-secret <client_id>'))
    .description('Issue a new secret; the current ones keep working for the grace period.')
    .option(
      '--grace <duration>',
      `how long the current secrets keep working, 0s to 90d (default ${formatDuration(DEFAULT_GRACE_MS)})`,
    )
    .action((id: string, options: CommonOptions & { grace?: string }) => rotateSecret(id, options));

  withCommonOptions(clients.command('delete <client_id>'))
    .description('Delete a client and its secrets at once.')
    .action((id: string, options: CommonOptions) => deleteClient(id, options));
}

async function createClient(options: CreateOptions): Promise<void> {
  const raw = {
    name: options.name,
    owner: options.owner,
    scopes: options.scope,
    plan: options.plan,
  };
  const input = valueOrUsageError(parseNewClient(raw), {
    name: { flag: '--name', value: options.name },
    owner: { flag: '--owner', value: options.owner },
    scopes: { flag: '--scope', value: options.scope },
    plan: { flag: '--plan', value: options.plan },
  });

  await withCredentials(options, async ({ manager, json, recordChange }) => {
    const issued = await manager.createClient(input);
    await recordChange('OAuth client created', [{ kind: 'client', id: issued.clientId }], {
      event: 'credential.created',
      clientId: issued.clientId,
      owner: issued.record.owner,
    });

    if (json) return printJson(apiShape(issued));
    const { record } = issued;
    console.log(`Created OAuth client ${record.id} (${nameAndOwner(record)}).`);
    printSecret(issued);
  });
}

async function listClients(options: CommonOptions & { owner?: string }): Promise<void> {
  const filter = ownerFilter(options.owner);

  await withCredentials(options, async ({ manager, json }) => {
    const clients = await manager.listClients(filter);
    if (json) return printJson(clients);
    if (clients.length === 0) return console.log('No OAuth clients.');
    printTable(
      ['CLIENT ID', 'NAME', 'OWNER', 'SCOPES', 'PLAN', 'CREATED', 'SECRETS'],
      clients.map((client) => [
        client.id,
        client.name,
        client.owner,
        client.scopes.join(' ') || '-',
        client.plan ?? '-',
        shortTime(client.createdAt),
        String(client.secrets.length),
      ]),
    );
  });
}

async function showClient(id: string, options: CommonOptions): Promise<void> {
  await withCredentials(options, async ({ manager, json }) => {
    const client = await manager.getClient(id);
    if (json) return printJson(client);
    printDetails(client);
  });
}

async function rotateSecret(
  id: string,
  options: CommonOptions & { grace?: string },
): Promise<void> {
  await withCredentials(options, async ({ manager, json, recordChange }) => {
    const rotation = parseRotation({ grace: options.grace }, manager.clientSecretGraceMs);
    const { graceMs } = valueOrUsageError(rotation, {
      grace: { flag: '--grace', value: options.grace },
    });
    const issued = await manager.rotateClientSecret(id, graceMs);
    await recordChange('OAuth client secret rotated', [{ kind: 'client', id }], {
      event: 'credential.rotated',
      clientId: id,
      graceMs,
      owner: issued.record.owner,
    });

    if (json) return printJson(apiShape(issued));
    console.log(`Rotated the secret of OAuth client ${id}.`);
    const graceEnd = overlapEnd(issued.record);
    if (graceEnd !== undefined)
      console.log(`The previous secrets work until ${shortTime(graceEnd)} UTC.`);
    printSecret(issued);
  });
}

async function deleteClient(id: string, options: CommonOptions): Promise<void> {
  await withCredentials(options, async ({ manager, json, recordChange }) => {
    const deleted = await manager.deleteClient(id);
    await recordChange('OAuth client deleted', [{ kind: 'client', id }], {
      event: 'credential.revoked',
      clientId: id,
      owner: deleted.owner,
    });

    if (json) return printJson(deleted);
    console.log(`Deleted OAuth client ${id} (${nameAndOwner(deleted)}).`);
  });
}

/** Returns the admin API's JSON shape, whose field names are those of OAuth (RFC 7591). */
function apiShape(issued: IssuedClientSecret): Record<string, unknown> {
  return { client_id: issued.clientId, client_secret: issued.clientSecret, record: issued.record };
}

/** Returns the latest time a previous secret still works, or undefined when none does. */
function overlapEnd(client: ClientView): string | undefined {
  const ends = client.secrets.flatMap((secret) =>
    secret.expiresAt === null ? [] : [secret.expiresAt],
  );
  return ends.sort().at(-1);
}

function printSecret(issued: IssuedClientSecret): void {
  console.log(`\n  client_id:     ${issued.clientId}\n  client_secret: ${issued.clientSecret}\n`);
  console.log(SHOWN_ONCE);
}

function printDetails(client: ClientView): void {
  const secrets = client.secrets.map((secret): [string, string] => {
    const until =
      secret.expiresAt === null ? 'current' : `works until ${shortTime(secret.expiresAt)}`;
    return ['secret', `${secret.id} created ${shortTime(secret.createdAt)}, ${until}`];
  });
  printFields([
    ['client_id', client.id],
    ['name', client.name],
    ['owner', client.owner],
    ['scopes', client.scopes.join(' ') || '-'],
    ['plan', client.plan ?? '-'],
    ['created', shortTime(client.createdAt)],
    ...secrets,
  ]);
}
