import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';

import type { Command } from 'commander';
import { pino } from 'pino';

import { loadConfigFile, type BulwarkConfig } from '../core/config.js';
import { createLogger, redactUrl, type Logger } from '../core/logger.js';
import { BanManager, escalationOf } from '../ddos/ban-service.js';
import { IpLists } from '../ddos/ip-lists.js';
import { RedisBanStore } from '../ddos/redis-ban-store.js';
import { banView, parseBanSubject, parseNewBan, type BanView } from '../gateway/ban-input.js';
import { BanNotFoundError } from '../gateway/ban-routes.js';
import {
  DEFAULT_CONFIG_FILE,
  printJson,
  printTable,
  shortTime,
  valueOrUsageError,
} from './credentials.js';
import { UsageError } from './start.js';

/**
 * `bulwark bans list|add|remove`: bans shared through Redis. Bans of a gateway without Redis
 * live in that process's memory, out of reach of another process, so then the commands exit
 * with a message that points to the admin API.
 */

interface BanOptions {
  config?: string;
  json?: boolean;
}

interface AddOptions extends BanOptions {
  duration?: string;
  reason?: string;
}

const REDIS_READY_TIMEOUT_MS = 3_000;

export function registerBanCommands(program: Command): void {
  const bans = program
    .command('bans')
    .description('List, add and remove IP bans shared by gateways through Redis.');

  withOptions(bans.command('list'))
    .description('List the bans in force, soonest expiry first.')
    .action((options: BanOptions) => listBans(options));

  withOptions(bans.command('add <address>'))
    .description('Ban an IP address or CIDR, e.g. 203.0.113.7 or 2001:db8::/64.')
    .option(
      '--duration <duration>',
      'how long, e.g. 1h or 7d (default: the longest bans.durations)',
    )
    .option('--reason <text>', 'why, shown in listings and events (default "manual")')
    .action((address: string, options: AddOptions) => addBan(address, options));

  withOptions(bans.command('remove <address>'))
    .description('Lift the ban of an address or CIDR and reset its escalation.')
    .action((address: string, options: BanOptions) => removeBan(address, options));
}

function withOptions(command: Command): Command {
  return command
    .option(
      '-c, --config <file>',
      `configuration file whose storage.redis and bans sections apply (default ./${DEFAULT_CONFIG_FILE})`,
    )
    .option('--json', 'print machine-readable JSON instead of text');
}

async function listBans(options: BanOptions): Promise<void> {
  await withBans(options, async ({ manager }) => {
    const bans = (await manager.list()).map(banView);
    if (options.json === true) return printJson(bans);
    if (bans.length === 0) return console.log('No bans in force.');
    printTable(
      ['SUBJECT', 'REASON', 'SOURCE', 'LEVEL', 'CREATED', 'EXPIRES'],
      bans.map((ban) => [
        ban.subject,
        ban.reason,
        ban.source,
        String(ban.level),
        shortTime(ban.createdAt),
        shortTime(ban.expiresAt),
      ]),
    );
  });
}

async function addBan(address: string, options: AddOptions): Promise<void> {
  const input = valueOrUsageError(
    parseNewBan({ address, duration: options.duration, reason: options.reason }),
    {
      address: { flag: '<address>', value: address },
      duration: { flag: '--duration', value: options.duration },
      reason: { flag: '--reason', value: options.reason },
    },
  );
  await withBans(options, async ({ manager, logger }) => {
    const ban = banView(await manager.add(input.subject, input.durationMs, input.reason));
    logChange(logger, 'ban added', ban);
    if (options.json === true) return printJson(ban);
    console.log(`Banned ${ban.subject} until ${shortTime(ban.expiresAt)} UTC.`);
  });
}

async function removeBan(address: string, options: BanOptions): Promise<void> {
  const subject = valueOrUsageError(parseBanSubject(address), {
    address: { flag: '<address>', value: address },
  });
  await withBans(options, async ({ manager, logger }) => {
    const ban = await manager.remove(subject);
    if (ban === undefined) throw new BanNotFoundError(subject);
    const view = banView(ban);
    logChange(logger, 'ban removed', view);
    if (options.json === true) return printJson(view);
    console.log(`Lifted the ban of ${subject}.`);
  });
}

/** Opens the Redis ban store the configuration names, runs `run`, and closes it. */
async function withBans(
  options: BanOptions,
  run: (context: { manager: BanManager; logger: Logger }) => Promise<void>,
): Promise<void> {
  const { config, file } = resolveConfig(options.config);
  const bans = config.bans;
  if (bans === undefined) {
    throw new UsageError(`bans are off in ${file}: add a bans section to use bulwark bans`);
  }
  const redis = config.storage.redis;
  if (redis === undefined) {
    throw new UsageError(
      `${file} sets no storage.redis, so bans live only in the memory of the gateway process and this command cannot reach them; use the running gateway's admin API (GET, POST and DELETE ${config.admin.prefix}/admin/bans), or set storage.redis to share bans`,
    );
  }

  const logger = createLogger(
    { level: process.env.BULWARK_LOG_LEVEL ?? 'info' },
    pino.destination({ dest: 2, sync: true }),
  );
  // Only the allowlist matters here (allowlisted addresses are never banned), so a broken
  // deny feed cannot block manual bans during an incident.
  const allowOnly = config.ipLists && { ...config.ipLists, deny: [] };
  const lists = new IpLists(allowOnly, logger.child({}, { level: 'warn' }));
  const store = new RedisBanStore({
    redis,
    keyPrefix: config.storage.keyPrefix,
    escalation: escalationOf(bans),
    commandTimeoutMs: 2_000,
    logger,
  });
  try {
    await store.whenReady(REDIS_READY_TIMEOUT_MS).catch((error: unknown) => {
      throw new UsageError(
        `cannot reach Redis at ${redactUrl(redis)} within ${REDIS_READY_TIMEOUT_MS} ms: ${(error as Error).message}`,
      );
    });
    await run({ manager: new BanManager(store, lists.allow, bans), logger });
  } finally {
    lists.close();
    await store.close();
  }
}

function resolveConfig(path: string | undefined): { config: BulwarkConfig; file: string } {
  if (path !== undefined) return { config: loadConfigFile(path), file: path };
  if (existsSync(DEFAULT_CONFIG_FILE)) {
    return { config: loadConfigFile(DEFAULT_CONFIG_FILE), file: DEFAULT_CONFIG_FILE };
  }
  throw new UsageError(
    `no configuration: pass --config FILE or run where ./${DEFAULT_CONFIG_FILE} exists, so that storage.redis and bans are known`,
  );
}

function logChange(logger: Logger, message: string, ban: BanView): void {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // A user without a passwd entry (some containers) is logged as unknown.
  }
  logger.info({ ...ban, actor: { type: 'user', id: user, via: 'cli' } }, message);
}
