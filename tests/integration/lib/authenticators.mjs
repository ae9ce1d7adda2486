// Software second factors for tests that talk to the real server: a WebAuthn authenticator
// (ES256 keys from node:crypto, CBOR written by hand, "none" or "packed" self attestation),
// which answers options the way navigator.credentials does and returns the JSON the web UI
// sends; and a YubiKey that types Yubico OTPs (AES-128 + CRC16 + modhex).
import { createCipheriv, createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';

export const b64u = (buf) => Buffer.from(buf).toString('base64url');
export const fromB64u = (s) => Buffer.from(s, 'base64url');
const sha256 = (data) => createHash('sha256').update(data).digest();

// --- a small CBOR encoder (definite lengths, as CTAP2 writes them) -------------------------
function head(major, n) {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

export function cbor(value) {
  if (typeof value === 'number') {
    return value >= 0 ? head(0, value) : head(1, -1 - value);
  }
  if (typeof value === 'string') {
    const b = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, b.length), b]);
  }
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    return Buffer.concat([head(2, value.length), Buffer.from(value)]);
  }
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cbor)]);
  if (value instanceof Map) {
    const parts = [head(5, value.size)];
    for (const [k, v] of value) parts.push(cbor(k), cbor(v));
    return Buffer.concat(parts);
  }
  throw new Error(`cbor: cannot encode ${typeof value}`);
}

// --- WebAuthn -------------------------------------------------------------------------------
export class SoftAuthenticator {
  constructor({ counter = 0 } = {}) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = privateKey;
    const jwk = publicKey.export({ format: 'jwk' });
    this.x = fromB64u(jwk.x);
    this.y = fromB64u(jwk.y);
    this.credentialId = randomBytes(32);
    this.aaguid = randomBytes(16);
    this.counter = counter; // next sign count; 0 = the key has no counter
  }

  coseKey() {
    return cbor(new Map([[1, 2], [3, -7], [-1, 1], [-2, this.x], [-3, this.y]]));
  }

  authData(rpId, { flags = 0x05, attested = false, signCount = 0 } = {}) {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(signCount);
    const parts = [sha256(rpId), Buffer.from([flags | (attested ? 0x40 : 0)]), count];
    if (attested) {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(this.credentialId.length);
      parts.push(this.aaguid, len, this.credentialId, this.coseKey());
    }
    return Buffer.concat(parts);
  }

  // The PublicKeyCredential's JSON form, as the web UI posts it.
  credential(response) {
    return { id: b64u(this.credentialId), rawId: b64u(this.credentialId), type: 'public-key', response };
  }

  static clientData(type, challenge, origin) {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  // Answers PublicKeyCredentialCreationOptions (as the server sends them) like
  // navigator.credentials.create, in the JSON form the web UI posts.
  // overrides: {origin, rpId, flags, fmt: 'none'|'packed', challenge, type}
  create(options, origin, overrides = {}) {
    const rpId = overrides.rpId ?? options.rp.id;
    const clientDataJSON = SoftAuthenticator.clientData(
      overrides.type ?? 'webauthn.create', overrides.challenge ?? options.challenge, overrides.origin ?? origin);
    const authData = this.authData(rpId, { flags: overrides.flags ?? 0x05, attested: true, signCount: this.counter });
    const fmt = overrides.fmt ?? 'none';
    let attStmt = new Map();
    if (fmt === 'packed') {
      const sig = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), this.privateKey);
      attStmt = new Map([['alg', -7], ['sig', sig]]);
    }
    const attestationObject = cbor(new Map([['fmt', fmt], ['attStmt', attStmt], ['authData', authData]]));
    if (this.counter > 0) this.counter += 1; // as a key with a counter does
    return this.credential({
      clientDataJSON: b64u(clientDataJSON),
      attestationObject: b64u(attestationObject),
      transports: ['usb'],
    });
  }

  // Answers PublicKeyCredentialRequestOptions like navigator.credentials.get.
  // overrides: {origin, rpId, flags, challenge, type, signCount}
  get(options, origin, overrides = {}) {
    const rpId = overrides.rpId ?? options.rpId;
    const clientDataJSON = SoftAuthenticator.clientData(
      overrides.type ?? 'webauthn.get', overrides.challenge ?? options.challenge, overrides.origin ?? origin);
    let signCount = overrides.signCount;
    if (signCount === undefined) {
      signCount = this.counter;
      if (this.counter > 0) this.counter += 1;
    }
    const authenticatorData = this.authData(rpId, { flags: overrides.flags ?? 0x05, signCount });
    const signature = sign('sha256', Buffer.concat([authenticatorData, sha256(clientDataJSON)]), this.privateKey);
    return this.credential({
      clientDataJSON: b64u(clientDataJSON),
      authenticatorData: b64u(authenticatorData),
      signature: b64u(signature),
      userHandle: null,
    });
  }
}

// --- Yubico OTP -----------------------------------------------------------------------------
const MODHEX = 'cbdefghijklnrtuv';
export const modhex = (buf) =>
  [...Buffer.from(buf).toString('hex')].map((c) => MODHEX[parseInt(c, 16)]).join('');

function crc16(buf) {
  let crc = 0xffff;
  for (const byte of buf) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) {
      const j = crc & 1;
      crc >>= 1;
      if (j) crc ^= 0x8408;
    }
  }
  return crc;
}

export class SoftYubikey {
  constructor() {
    this.publicId = modhex(randomBytes(6));
    this.privateId = randomBytes(6);
    this.aesKey = randomBytes(16);
    this.session = 1;
    this.use = 0;
  }

  // A line in the personalization tool's "Yubico format".
  csvLine(serial = '1234567') {
    return `${serial},${this.publicId},${this.privateId.toString('hex')},${this.aesKey.toString('hex')},,2026-01-01T00:00:00,`;
  }

  otpAt(session, use) {
    const t = Buffer.alloc(16);
    this.privateId.copy(t, 0);
    t.writeUInt16LE(session, 6);
    t.writeUInt16LE(0x1234, 8);
    t[10] = 0x56;
    t[11] = use;
    t.writeUInt16LE(randomBytes(2).readUInt16LE(0), 12);
    t.writeUInt16LE(~crc16(t.subarray(0, 14)) & 0xffff, 14);
    const cipher = createCipheriv('aes-128-ecb', this.aesKey, null);
    cipher.setAutoPadding(false);
    const enc = Buffer.concat([cipher.update(t), cipher.final()]);
    return this.publicId + modhex(enc);
  }

  otp() {
    return this.otpAt(this.session, this.use++);
  }

  powerCycle() {
    this.session += 1;
    this.use = 0;
  }
}
