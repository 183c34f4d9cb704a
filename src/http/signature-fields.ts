/**
 * Parsing of the `Signature-Input` and `Signature` fields of HTTP Message Signatures
 * (RFC 9421 section 4). Both are structured-field dictionaries (RFC 8941) keyed by a
 * signature label: `Signature-Input` contains an inner list of covered components with the
 * signature parameters, `Signature` the signature bytes.
 *
 * Every bound below applies before any key is looked up or any signature is checked, so a
 * client cannot make the gateway do work in proportion to a large field.
 */
import {
  parseDictionary,
  serializeInnerList,
  serializeItem,
  type BareItem,
  type Dictionary,
  type InnerList,
  type Item,
  type Parameters,
} from 'structured-headers';

/** Longest `Signature-Input` or `Signature` field parsed. */
export const MAX_SIGNATURE_FIELD_LENGTH = 8192;
/** Most signatures (labels) read from one request. */
export const MAX_SIGNATURES = 8;
/** Most components one signature may cover. */
export const MAX_COMPONENTS = 32;
/** Longest `nonce`, `keyid` or `tag` parameter accepted. */
export const MAX_PARAMETER_LENGTH = 256;

/** The parameters of one signature (RFC 9421 section 2.3). */
export interface SignatureParameters {
  created?: number;
  expires?: number;
  nonce?: string;
  alg?: string;
  keyid?: string;
  tag?: string;
}

/** One covered component: its name (`@method`, `content-type`) and its parameters. */
export interface ComponentIdentifier {
  name: string;
  parameters: Parameters;
}

/** One signature of a request, as read from both fields. */
export interface ParsedSignature {
  label: string;
  components: readonly ComponentIdentifier[];
  parameters: SignatureParameters;
  /** The `@signature-params` line value: the inner list serialized as RFC 8941 requires. */
  serializedParameters: string;
  /** The signature bytes, or undefined when `Signature` has no member with this label. */
  signature: Buffer | undefined;
}

export type FieldsResult =
  { ok: true; signatures: ParsedSignature[] } | { ok: false; detail: string };

/**
 * Parses both fields. Returns every signature of `Signature-Input` in field order, or the
 * first problem found, worded for a problem detail (it never quotes the field).
 */
export function parseSignatureFields(input: string, signature: string | undefined): FieldsResult {
  const inputs = parseField(input, 'Signature-Input');
  if (typeof inputs === 'string') return { ok: false, detail: inputs };
  const values = signature === undefined ? new Map() : parseField(signature, 'Signature');
  if (typeof values === 'string') return { ok: false, detail: values };
  if (inputs.size > MAX_SIGNATURES) {
    return { ok: false, detail: `Signature-Input has more than ${MAX_SIGNATURES} signatures` };
  }

  const signatures: ParsedSignature[] = [];
  for (const [label, member] of inputs) {
    const parsed = parseMember(label, member, values.get(label));
    if (typeof parsed === 'string') return { ok: false, detail: parsed };
    signatures.push(parsed);
  }
  return { ok: true, signatures };
}

function parseField(value: string, name: string): Dictionary | string {
  if (value.length > MAX_SIGNATURE_FIELD_LENGTH) {
    return `${name} is longer than ${MAX_SIGNATURE_FIELD_LENGTH} characters`;
  }
  try {
    return parseDictionary(value);
  } catch {
    return `${name} is not a structured-field dictionary (RFC 8941)`;
  }
}

function parseMember(
  label: string,
  member: Item | InnerList,
  value: Item | InnerList | undefined,
): ParsedSignature | string {
  if (!Array.isArray(member[0])) return `Signature-Input "${shown(label)}" is not an inner list`;
  const innerList = member as InnerList;
  const [items, parameters] = innerList;
  if (items.length > MAX_COMPONENTS) {
    return `signature "${shown(label)}" covers more than ${MAX_COMPONENTS} components`;
  }

  const components: ComponentIdentifier[] = [];
  const seen = new Set<string>();
  for (const [name, componentParameters] of items) {
    if (typeof name !== 'string') {
      return `signature "${shown(label)}" lists a component that is not a string`;
    }
    // RFC 9421 section 2: the same identifier twice makes the signature base ambiguous.
    const identifier = serializeItem([name, componentParameters]);
    if (seen.has(identifier)) return `signature "${shown(label)}" covers one component twice`;
    seen.add(identifier);
    components.push({ name, parameters: componentParameters });
  }

  const signatureParameters = readParameters(label, parameters);
  if (typeof signatureParameters === 'string') return signatureParameters;

  let bytes: Buffer | undefined;
  if (value !== undefined) {
    if (!(value[0] instanceof ArrayBuffer)) {
      return `Signature "${shown(label)}" is not a byte sequence`;
    }
    bytes = Buffer.from(value[0]);
  }
  return {
    label,
    components,
    parameters: signatureParameters,
    serializedParameters: serializeInnerList(innerList),
    signature: bytes,
  };
}

/**
 * Reads the parameters RFC 9421 defines and checks their types. Other parameters stay in
 * the serialized list, so they are covered by the signature, but are not interpreted.
 */
function readParameters(label: string, parameters: Parameters): SignatureParameters | string {
  const result: SignatureParameters = {};
  for (const name of ['created', 'expires'] as const) {
    const value = parameters.get(name);
    if (value === undefined) continue;
    if (!isTimestamp(value))
      return `signature "${shown(label)}" has a ${name} that is not a whole number of seconds`;
    result[name] = value;
  }
  for (const name of ['nonce', 'alg', 'keyid', 'tag'] as const) {
    const value = parameters.get(name);
    if (value === undefined) continue;
    if (typeof value !== 'string')
      return `signature "${shown(label)}" has a ${name} that is not a string`;
    if (value.length === 0 || value.length > MAX_PARAMETER_LENGTH) {
      return `signature "${shown(label)}" has a ${name} of 0 or more than ${MAX_PARAMETER_LENGTH} characters`;
    }
    result[name] = value;
  }
  return result;
}

function isTimestamp(value: BareItem): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Returns a label for a problem detail. Labels are RFC 8941 keys (lower-case letters, digits,
 * `_-.*`), so they are safe to quote, but a client may send a long one.
 */
function shown(label: string): string {
  return label.length > 32 ? `${label.slice(0, 32)}...` : label;
}
