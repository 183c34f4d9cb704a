import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

import { BulwarkError } from '../core/errors.js';

/**
 * Keys of the audit log: an HMAC key per record, an Ed25519 key pair for checkpoints and
 * archive manifests, and an AES-256-GCM key for encrypted fields. Each kind keeps a current
 * key and the retired ones, so records and checkpoints written before a rotation still
 * verify and decrypt.
 *
 * Keys come from files in a keys folder (one JSON file per kind, mode 0600, folder 0700) or
 * from environment variables, which take precedence per kind:
 *
 * - `BULWARK_AUDIT_HMAC_KEY`: `kid:base64` entries separated by commas, current first; each
 *   key at least 32 bytes.
 * - `BULWARK_AUDIT_ENCRYPTION_KEY`: the same form; each key exactly 32 bytes.
 * - `BULWARK_AUDIT_SIGNING_KEY`: base64 of the PKCS #8 DER form of the current Ed25519
 *   private key (`openssl genpkey -algorithm ed25519 -outform DER | base64`).
 * - `BULWARK_AUDIT_SIGNING_PUBLIC_KEYS`: optional base64 SPKI DER public keys of retired
 *   signing keys, separated by commas.
 *
 * A signing key's id is derived from its public key (`ed25519-` and 16 hex digits of the
 * SHA-256 of its SPKI form), so that a verifier holding only a PEM file finds its key id.
 */

export type AuditKeyKind = 'hmac' | 'signing' | 'encryption';

export const AUDIT_KEY_KINDS: readonly AuditKeyKind[] = ['hmac', 'signing', 'encryption'];

/** Environment variables read by `loadAuditKeys`. */
export const AUDIT_KEY_ENV = {
  hmac: 'BULWARK_AUDIT_HMAC_KEY',
  encryption: 'BULWARK_AUDIT_ENCRYPTION_KEY',
  signing: 'BULWARK_AUDIT_SIGNING_KEY',
  signingPublic: 'BULWARK_AUDIT_SIGNING_PUBLIC_KEYS',
} as const;

/** Folder below the data directory that contains the key files by default. */
export const DEFAULT_AUDIT_KEYS_FOLDER = 'audit-keys';

/** Minimum HMAC key length, because RFC 2104 recommends at least the hash output length. */
export const MIN_HMAC_KEY_BYTES = 32;
const ENCRYPTION_KEY_BYTES = 32;
const GENERATED_HMAC_KEY_BYTES = 32;
// Bounds the parse of a key file or variable. A file with a thousand rotations is about
// 100 KiB (an estimate).
const MAX_KEY_FILE_BYTES = 1024 * 1024;
const MAX_KEYS_PER_KIND = 1000;

/** Key ids appear inside encrypted text and manifests, which use `.` and `:` as separators. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export class AuditKeyError extends BulwarkError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BWK_ERR_AUDIT_KEYS', message, options);
  }
}

/** A symmetric key with its id. */
export interface SecretKey {
  readonly kid: string;
  readonly key: Buffer;
}

/** The current key of a kind, and every key of that kind by id. */
export interface SecretKeyRing {
  readonly current: SecretKey;
  /** Ids of every key of the kind, current first. */
  readonly ids: readonly string[];
  /** Returns the key with this id, current or retired, or undefined. */
  byId(kid: string): SecretKey | undefined;
}

export interface SigningKeys {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** Ids of every signing public key, current first. */
  readonly ids: readonly string[];
  /** Returns the public key with this id, current or retired, or undefined. */
  publicKeyById(kid: string): KeyObject | undefined;
}

export interface AuditKeys {
  readonly hmac: SecretKeyRing;
  readonly signing: SigningKeys;
  /** Undefined when neither a file nor the environment provides an encryption key. */
  readonly encryption: SecretKeyRing | undefined;
  /** Source of each kind (file, environment or none), for `bulwark audit keys list` and logs. */
  readonly sources: Readonly<Record<AuditKeyKind, 'file' | 'env' | 'none'>>;
}

export interface LoadAuditKeysOptions {
  /** The keys folder, usually `<dataDir>/audit-keys`. */
  dir: string;
  env?: NodeJS.ProcessEnv;
  /** Creates the folder and missing key files first, as on a first start. */
  generate?: boolean;
}

/** One entry of `listAuditKeys`, without key material. */
export interface AuditKeyInfo {
  kind: AuditKeyKind;
  kid: string;
  current: boolean;
  /** RFC 3339 time of creation; unknown for keys from the environment. */
  created: string | undefined;
  source: 'file' | 'env';
}

/** The stored form of a symmetric key file (`hmac.json`, `encryption.json`). */
interface SecretKeyFile {
  kind: 'hmac' | 'encryption';
  current: string;
  keys: { kid: string; created: string; key: string }[];
}

/**
 * The stored form of `signing.json`. Only the current key keeps its private half: a retired
 * private key could sign forged checkpoints and is not needed to verify old ones.
 */
interface SigningKeyFile {
  kind: 'signing';
  current: string;
  privateKey: string;
  keys: { kid: string; created: string; publicKey: string }[];
}

/**
 * Loads the audit keys from the environment and the keys folder. Throws `AuditKeyError`
 * when the HMAC or signing key is missing or any key is invalid, or when a key file can be
 * read by other users.
 */
export function loadAuditKeys(options: LoadAuditKeysOptions): AuditKeys {
  const env = options.env ?? process.env;
  if (options.generate === true) generateAuditKeys(options.dir, { skip: kindsInEnv(env) });

  const hmacEnv = env[AUDIT_KEY_ENV.hmac];
  const hmac =
    hmacEnv !== undefined && hmacEnv !== ''
      ? secretRingFromEnv('hmac', hmacEnv)
      : secretRingFromFile(options.dir, 'hmac');
  const signingEnv = env[AUDIT_KEY_ENV.signing];
  const signing =
    signingEnv !== undefined && signingEnv !== ''
      ? signingFromEnv(signingEnv, env[AUDIT_KEY_ENV.signingPublic])
      : signingFromFile(options.dir);
  const encryptionEnv = env[AUDIT_KEY_ENV.encryption];
  const encryption =
    encryptionEnv !== undefined && encryptionEnv !== ''
      ? secretRingFromEnv('encryption', encryptionEnv)
      : secretRingFromFile(options.dir, 'encryption');

  if (hmac === undefined) throw missingKey('hmac', options.dir);
  if (signing === undefined) throw missingKey('signing', options.dir);
  return {
    hmac: hmac.ring,
    signing: signing.keys,
    encryption: encryption?.ring,
    sources: {
      hmac: hmac.source,
      signing: signing.source,
      encryption: encryption?.source ?? 'none',
    },
  };
}

/**
 * Creates the keys folder (mode 0700) and each missing key file (mode 0600) with a new key.
 * Existing files are left as they are. Returns the kinds it created.
 */
export function generateAuditKeys(
  dir: string,
  options: { skip?: readonly AuditKeyKind[]; now?: Date } = {},
): AuditKeyKind[] {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const now = (options.now ?? new Date()).toISOString();
  const created: AuditKeyKind[] = [];
  for (const kind of AUDIT_KEY_KINDS) {
    if (options.skip?.includes(kind) === true) continue;
    const file = keyFilePath(dir, kind);
    const content = kind === 'signing' ? newSigningFile(now) : newSecretFile(kind, now);
    // `wx` fails when the file exists, so two processes starting together cannot both
    // create a key and leave records signed with one that the other overwrote.
    if (writeNewFile(file, serialize(content))) created.push(kind);
  }
  return created;
}

/**
 * Adds a new current key of `kind` to its file. The previous keys stay for verification
 * and decryption. Returns the new and the previous key id.
 */
export function rotateAuditKey(
  dir: string,
  kind: AuditKeyKind,
  now: Date = new Date(),
): { kid: string; previous: string } {
  const file = keyFilePath(dir, kind);
  const created = now.toISOString();
  if (kind === 'signing') {
    const stored = readSigningFile(file);
    if (stored === undefined) throw missingKey(kind, dir);
    const next = newSigningFile(created);
    const updated: SigningKeyFile = {
      kind: 'signing',
      current: next.current,
      privateKey: next.privateKey,
      keys: [...stored.keys, ...next.keys],
    };
    replaceFile(file, serialize(limitKeys(updated)));
    return { kid: next.current, previous: stored.current };
  }

  const stored = readSecretFile(file, kind);
  if (stored === undefined) throw missingKey(kind, dir);
  const next = newSecretFile(kind, created);
  const updated: SecretKeyFile = {
    kind,
    current: next.current,
    keys: [...stored.keys, ...next.keys],
  };
  replaceFile(file, serialize(limitKeys(updated)));
  return { kid: next.current, previous: stored.current };
}

/** Lists every key without its material, current key first within each kind. */
export function listAuditKeys(dir: string, env: NodeJS.ProcessEnv = process.env): AuditKeyInfo[] {
  const keys = loadAuditKeys({ dir, env });
  const infos: AuditKeyInfo[] = [];
  const fileCreated = (kind: AuditKeyKind): Map<string, string> => {
    if (keys.sources[kind] !== 'file') return new Map();
    const path = keyFilePath(dir, kind);
    const stored = kind === 'signing' ? readSigningFile(path) : readSecretFile(path, kind);
    return new Map(stored?.keys.map((entry) => [entry.kid, entry.created]) ?? []);
  };
  for (const kind of AUDIT_KEY_KINDS) {
    const source = keys.sources[kind];
    if (source === 'none') continue;
    const created = fileCreated(kind);
    const ring = kind === 'signing' ? keys.signing : keys[kind]!;
    const currentId = kind === 'signing' ? keys.signing.kid : keys[kind]!.current.kid;
    for (const kid of ring.ids) {
      infos.push({ kind, kid, current: kid === currentId, created: created.get(kid), source });
    }
  }
  return infos;
}

/**
 * Returns the PEM (SPKI) form of signing public keys for verifiers: the current key, or
 * every key, current first, when `all` is set. `loadPublicKeys` reads the output back.
 */
export function exportPublicKeys(
  keys: AuditKeys,
  options: { all?: boolean; kid?: string } = {},
): string {
  const selected =
    options.kid !== undefined
      ? [options.kid]
      : options.all === true
        ? keys.signing.ids
        : [keys.signing.kid];
  return selected
    .map((kid) => {
      const key = keys.signing.publicKeyById(kid);
      if (key === undefined) throw new AuditKeyError(`No signing key has the id "${kid}".`);
      return key.export({ type: 'spki', format: 'pem' }).toString();
    })
    .join('');
}

/**
 * Reads one or more PEM public keys, as `exportPublicKeys` writes them, into a lookup by
 * key id. Throws `AuditKeyError` on text that contains no Ed25519 public key.
 */
export function loadPublicKeys(pem: string): (kid: string) => KeyObject | undefined {
  if (pem.length > MAX_KEY_FILE_BYTES)
    throw new AuditKeyError('The public key file is larger than 1 MiB.');
  const blocks = pem.match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) ?? [];
  if (blocks.length === 0)
    throw new AuditKeyError('The public key file contains no PEM public key (BEGIN PUBLIC KEY).');
  const byId = new Map<string, KeyObject>();
  for (const block of blocks) {
    const key = parseKey(() => createPublicKey(block), 'a PEM public key');
    requireEd25519(key, 'a PEM public key');
    byId.set(signingKeyId(key), key);
  }
  return (kid) => byId.get(kid);
}

/** Derives a signing key id from the public key, so that any holder of the key computes it. */
export function signingKeyId(publicKey: KeyObject): string {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return `ed25519-${createHash('sha256').update(spki).digest('hex').slice(0, 16)}`;
}

/** Returns the path of a kind's key file in the keys folder. */
export function keyFilePath(dir: string, kind: AuditKeyKind): string {
  return join(dir, `${kind}.json`);
}

function kindsInEnv(env: NodeJS.ProcessEnv): AuditKeyKind[] {
  const kinds: AuditKeyKind[] = [];
  if (nonEmpty(env[AUDIT_KEY_ENV.hmac])) kinds.push('hmac');
  if (nonEmpty(env[AUDIT_KEY_ENV.signing])) kinds.push('signing');
  if (nonEmpty(env[AUDIT_KEY_ENV.encryption])) kinds.push('encryption');
  return kinds;
}

function nonEmpty(value: string | undefined): boolean {
  return value !== undefined && value !== '';
}

function newKeyId(kind: 'hmac' | 'encryption', created: string): string {
  const day = created.slice(0, 10).replaceAll('-', '');
  return `${kind === 'hmac' ? 'hmac' : 'enc'}-${day}-${randomBytes(4).toString('hex')}`;
}

function newSecretFile(kind: 'hmac' | 'encryption', created: string): SecretKeyFile {
  const bytes = kind === 'hmac' ? GENERATED_HMAC_KEY_BYTES : ENCRYPTION_KEY_BYTES;
  const kid = newKeyId(kind, created);
  return {
    kind,
    current: kid,
    keys: [{ kid, created, key: randomBytes(bytes).toString('base64') }],
  };
}

function newSigningFile(created: string): SigningKeyFile {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const kid = signingKeyId(publicKey);
  return {
    kind: 'signing',
    current: kid,
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    keys: [
      { kid, created, publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() },
    ],
  };
}

/** Rejects a rotation past the bound that loading enforces, rather than dropping an old key. */
function limitKeys<T extends { keys: unknown[] }>(file: T): T {
  if (file.keys.length > MAX_KEYS_PER_KIND)
    throw new AuditKeyError(
      `A key file can contain at most ${MAX_KEYS_PER_KIND} keys; archive the oldest records before rotating again.`,
    );
  return file;
}

function secretRingFromFile(
  dir: string,
  kind: 'hmac' | 'encryption',
): { ring: SecretKeyRing; source: 'file' } | undefined {
  const stored = readSecretFile(keyFilePath(dir, kind), kind);
  if (stored === undefined) return undefined;
  const keys = stored.keys.map((entry) =>
    secretKey(kind, entry.kid, decodeBase64(entry.key, `${kind}.json key ${entry.kid}`)),
  );
  return { ring: secretRing(kind, keys, stored.current, `${kind}.json`), source: 'file' };
}

function secretRingFromEnv(
  kind: 'hmac' | 'encryption',
  value: string,
): { ring: SecretKeyRing; source: 'env' } {
  const name = AUDIT_KEY_ENV[kind];
  if (value.length > MAX_KEY_FILE_BYTES) throw new AuditKeyError(`${name} is longer than 1 MiB.`);
  const keys = value.split(',').map((entry, index) => {
    const separator = entry.indexOf(':');
    if (separator <= 0)
      throw new AuditKeyError(
        `${name} entry ${index + 1} is not "kid:base64"; write e.g. "${kind}-1:$(openssl rand -base64 32)".`,
      );
    const kid = entry.slice(0, separator).trim();
    return secretKey(
      kind,
      kid,
      decodeBase64(entry.slice(separator + 1).trim(), `${name} entry ${index + 1}`),
    );
  });
  return { ring: secretRing(kind, keys, keys[0]!.kid, name), source: 'env' };
}

function secretKey(kind: 'hmac' | 'encryption', kid: string, key: Buffer): SecretKey {
  checkKeyId(kid, kind);
  if (kind === 'hmac' && key.length < MIN_HMAC_KEY_BYTES)
    throw new AuditKeyError(
      `The HMAC key "${kid}" has ${key.length} bytes; it needs at least ${MIN_HMAC_KEY_BYTES}.`,
    );
  if (kind === 'encryption' && key.length !== ENCRYPTION_KEY_BYTES)
    throw new AuditKeyError(
      `The encryption key "${kid}" has ${key.length} bytes; AES-256 needs exactly ${ENCRYPTION_KEY_BYTES}.`,
    );
  return Object.freeze({ kid, key });
}

function secretRing(
  kind: string,
  keys: readonly SecretKey[],
  currentId: string,
  origin: string,
): SecretKeyRing {
  const byId = new Map<string, SecretKey>();
  for (const key of keys) {
    if (byId.has(key.kid))
      throw new AuditKeyError(`${origin} lists the ${kind} key id "${key.kid}" twice.`);
    byId.set(key.kid, key);
  }
  const current = byId.get(currentId);
  if (current === undefined)
    throw new AuditKeyError(
      `${origin} names the current key "${currentId}", which it does not contain.`,
    );
  const ids = Object.freeze([
    currentId,
    ...[...byId.keys()].filter((kid) => kid !== currentId).reverse(),
  ]);
  return Object.freeze({ current, ids, byId: (kid: string) => byId.get(kid) });
}

function signingFromFile(dir: string): { keys: SigningKeys; source: 'file' } | undefined {
  const stored = readSigningFile(keyFilePath(dir, 'signing'));
  if (stored === undefined) return undefined;
  const privateKey = parseKey(
    () => createPrivateKey(stored.privateKey),
    'the private key in signing.json',
  );
  const retired = stored.keys.map((entry) => {
    const key = parseKey(() => createPublicKey(entry.publicKey), `signing.json key ${entry.kid}`);
    requireEd25519(key, `signing.json key ${entry.kid}`);
    if (signingKeyId(key) !== entry.kid)
      throw new AuditKeyError(
        `signing.json key ${entry.kid} does not match its id; the file was edited or damaged.`,
      );
    return key;
  });
  const keys = signingKeys(privateKey, retired, 'signing.json');
  if (keys.kid !== stored.current)
    throw new AuditKeyError(
      'signing.json names a current key that does not match its private key.',
    );
  return { keys, source: 'file' };
}

function signingFromEnv(
  value: string,
  publicList: string | undefined,
): { keys: SigningKeys; source: 'env' } {
  const name = AUDIT_KEY_ENV.signing;
  const der = decodeBase64(value.trim(), name);
  const privateKey = parseKey(
    () => createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }),
    name,
  );
  const retired = (publicList ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry, index) => {
      const label = `${AUDIT_KEY_ENV.signingPublic} entry ${index + 1}`;
      const spki = decodeBase64(entry, label);
      const key = parseKey(
        () => createPublicKey({ key: spki, format: 'der', type: 'spki' }),
        label,
      );
      requireEd25519(key, label);
      return key;
    });
  return { keys: signingKeys(privateKey, retired, name), source: 'env' };
}

function signingKeys(
  privateKey: KeyObject,
  publicKeys: readonly KeyObject[],
  origin: string,
): SigningKeys {
  requireEd25519(privateKey, origin);
  const publicKey = createPublicKey(privateKey);
  const kid = signingKeyId(publicKey);
  const byId = new Map<string, KeyObject>();
  for (const key of publicKeys) byId.set(signingKeyId(key), key);
  byId.set(kid, publicKey);
  const ids = Object.freeze([kid, ...[...byId.keys()].filter((id) => id !== kid).reverse()]);
  return Object.freeze({
    kid,
    privateKey,
    publicKey,
    ids,
    publicKeyById: (id: string) => byId.get(id),
  });
}

function requireEd25519(key: KeyObject, label: string): void {
  if (key.asymmetricKeyType !== 'ed25519')
    throw new AuditKeyError(
      `${label} is a ${key.asymmetricKeyType ?? 'symmetric'} key; audit signing uses Ed25519.`,
    );
}

function parseKey(parse: () => KeyObject, label: string): KeyObject {
  try {
    return parse();
  } catch (error) {
    throw new AuditKeyError(`${label} is not a valid key.`, { cause: error });
  }
}

function checkKeyId(kid: string, kind: string): void {
  if (!KEY_ID_PATTERN.test(kid))
    throw new AuditKeyError(
      `The ${kind} key id "${kid.slice(0, 64)}" is invalid; use 1 to 64 letters, digits, "_" or "-".`,
    );
}

function decodeBase64(text: string, label: string): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0)
    throw new AuditKeyError(`${label} is not valid base64.`);
  return Buffer.from(text, 'base64');
}

function missingKey(kind: AuditKeyKind, dir: string): AuditKeyError {
  const variable = kind === 'signing' ? AUDIT_KEY_ENV.signing : AUDIT_KEY_ENV[kind];
  return new AuditKeyError(
    `No audit ${kind} key: ${keyFilePath(dir, kind)} does not exist and ${variable} is unset. Run "bulwark audit keys generate" or set the variable.`,
  );
}

function readKeyFile(path: string): unknown {
  let stat;
  try {
    stat = statSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AuditKeyError(`Cannot read the audit key file ${path}.`, { cause: error });
  }
  // Like ssh with private key files: a key others can read may already be known to them.
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0)
    throw new AuditKeyError(
      `The audit key file ${path} is accessible to other users (mode ${(stat.mode & 0o777).toString(8)}); run "chmod 600 ${path}".`,
    );
  if (stat.size > MAX_KEY_FILE_BYTES)
    throw new AuditKeyError(`The audit key file ${path} is larger than 1 MiB.`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (error) {
    throw new AuditKeyError(`The audit key file ${path} is not valid JSON.`, { cause: error });
  }
}

function readSecretFile(path: string, kind: 'hmac' | 'encryption'): SecretKeyFile | undefined {
  const value = readKeyFile(path);
  if (value === undefined) return undefined;
  if (!hasKeyList(value, kind, 'key'))
    throw new AuditKeyError(
      `The audit key file ${path} does not contain ${kind} keys in the expected form.`,
    );
  return value as SecretKeyFile;
}

function readSigningFile(path: string): SigningKeyFile | undefined {
  const value = readKeyFile(path);
  if (value === undefined) return undefined;
  const valid =
    hasKeyList(value, 'signing', 'publicKey') &&
    typeof (value as Partial<SigningKeyFile>).privateKey === 'string';
  if (!valid)
    throw new AuditKeyError(
      `The audit key file ${path} does not contain signing keys in the expected form.`,
    );
  return value as SigningKeyFile;
}

/**
 * Returns whether a parsed key file has the given `kind`, a `current` key id and 1 to
 * `MAX_KEYS_PER_KIND` entries, each with a `kid`, a `created` time and the string `keyField`.
 */
function hasKeyList(value: unknown, kind: string, keyField: 'key' | 'publicKey'): boolean {
  if (!isRecord(value)) return false;
  const keys = value.keys;
  return (
    value.kind === kind &&
    typeof value.current === 'string' &&
    Array.isArray(keys) &&
    keys.length > 0 &&
    keys.length <= MAX_KEYS_PER_KIND &&
    keys.every(
      (entry) =>
        isRecord(entry) &&
        typeof entry.kid === 'string' &&
        typeof entry[keyField] === 'string' &&
        typeof entry.created === 'string',
    )
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function serialize(file: SecretKeyFile | SigningKeyFile): string {
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** Writes a file that must not exist yet, with mode 0600. Returns false if it exists. */
function writeNewFile(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new AuditKeyError(`Cannot create the audit key file ${path}.`, { cause: error });
  }
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Replaces a file through a temporary one, so that a crash leaves the old or the new keys. */
function replaceFile(path: string, content: string): void {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeNewFile(temporary, content);
  renameSync(temporary, path);
}
