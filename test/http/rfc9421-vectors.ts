/**
 * Test material from RFC 9421 appendix B (keys B.1.4 and B.1.5, the test request of B.2)
 * and RFC 9530 appendix B (digests of the same body). Values are copied from the RFCs.
 */
import type { SignedRequest } from '../../src/http/signature-base.js';

/** B.1.4 test-key-ed25519 as JWK. */
export const ED25519_JWK = {
  kty: 'OKP',
  crv: 'Ed25519',
  x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs',
  d: 'n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU',
};

/** B.1.4 test-key-ed25519, public half as PEM. */
export const ED25519_PUBLIC_PEM = [
  '-----BEGIN PUBLIC KEY-----',
  'MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=',
  '-----END PUBLIC KEY-----',
].join('\n');

/** B.1.4 test-key-ed25519, private key as PKCS #8 PEM. */
export const ED25519_PRIVATE_PEM = [
  '-----BEGIN PRIVATE KEY-----',
  'MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF',
  '-----END PRIVATE KEY-----',
].join('\n');

/** B.1.5 test-shared-secret, base64. */
export const SHARED_SECRET =
  'uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ==';

/** The body of the test request. */
export const BODY = '{"hello": "world"}';

/** RFC 9530 appendix B: Content-Digest values of `BODY`. */
export const BODY_SHA256 = 'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:';
export const BODY_SHA512 =
  'sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:';

const FIELDS: Record<string, string> = {
  host: 'example.com',
  date: 'Tue, 20 Apr 2021 02:07:55 GMT',
  'content-type': 'application/json',
  'content-digest': BODY_SHA512,
  'content-length': '18',
};

/** The B.2 test request: `POST /foo?param=Value&Pet=dog` to example.com over HTTPS. */
export const TEST_REQUEST: SignedRequest = {
  method: 'POST',
  scheme: 'https',
  authority: 'example.com',
  target: '/foo?param=Value&Pet=dog',
  field: (name) => FIELDS[name],
};

/** A signature example of appendix B: its fields, signature base and deterministic value. */
export interface SignatureExample {
  section: string;
  request: SignedRequest;
  signatureInput: string;
  signature: string;
  base: string;
}

/** B.2.5: hmac-sha256 over date, @authority and content-type. */
export const B25: SignatureExample = {
  section: 'B.2.5',
  request: TEST_REQUEST,
  signatureInput:
    'sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"',
  signature: 'sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:',
  base: [
    '"date": Tue, 20 Apr 2021 02:07:55 GMT',
    '"@authority": example.com',
    '"content-type": application/json',
    '"@signature-params": ("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"',
  ].join('\n'),
};

/** B.2.6: ed25519 over date, @method, @path, @authority, content-type and content-length. */
export const B26: SignatureExample = {
  section: 'B.2.6',
  request: TEST_REQUEST,
  signatureInput:
    'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"',
  signature:
    'sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:',
  base: [
    '"date": Tue, 20 Apr 2021 02:07:55 GMT',
    '"@method": POST',
    '"@path": /foo',
    '"@authority": example.com',
    '"content-type": application/json',
    '"content-length": 18',
    '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"',
  ].join('\n'),
};

/** B.4: ed25519 over a GET request to example.org, as the verifier behind a proxy receives it. */
export const B4: SignatureExample = {
  section: 'B.4',
  request: {
    method: 'GET',
    scheme: 'https',
    authority: 'example.org',
    target: '/demo?name1=Value1&Name2=value2',
    field: (name) => (name === 'accept' ? 'application/json, */*' : undefined),
  },
  signatureInput:
    'transform=("@method" "@path" "@authority" "accept");created=1618884473;keyid="test-key-ed25519"',
  signature:
    'transform=:ZT1kooQsEHpZ0I1IjCqtQppOmIqlJPeo7DHR3SoMn0s5JZ1eRGS0A+vyYP9t/LXlh5QMFFQ6cpLt2m0pmj3NDA==:',
  base: [
    '"@method": GET',
    '"@path": /demo',
    '"@authority": example.org',
    '"accept": application/json, */*',
    '"@signature-params": ("@method" "@path" "@authority" "accept");created=1618884473;keyid="test-key-ed25519"',
  ].join('\n'),
};
