// The browser side of WebAuthn: the server sends options with base64url strings, the
// browser API wants ArrayBuffers; the answer goes back as JSON with base64url strings (the
// shape of PublicKeyCredential.toJSON()).

export function webauthnSupported() {
  return typeof window.PublicKeyCredential === 'function' && Boolean(navigator.credentials);
}

export function toBytes(b64url) {
  const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

export function toB64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const descriptors = (list) => (list || []).map((d) => ({ ...d, id: toBytes(d.id) }));

// Explains the DOMExceptions people actually meet.
function friendly(err) {
  if (err && err.name === 'NotAllowedError') {
    return new Error('The security key request was cancelled or timed out. Try again.');
  }
  if (err && err.name === 'InvalidStateError') {
    return new Error('This security key is already registered.');
  }
  if (err && err.name === 'SecurityError') {
    return new Error('Security keys cannot be used on this address. Open the server by its configured name.');
  }
  return err;
}

// Runs navigator.credentials[kind]: {json} is the credential's JSON form with `fields` of its
// response base64url-encoded, {response} the browser's object.
async function ceremony(kind, publicKey, fields) {
  let cred;
  try {
    cred = await navigator.credentials[kind]({ publicKey });
  } catch (err) {
    throw friendly(err);
  }
  const response = {};
  for (const name of fields) response[name] = cred.response[name] ? toB64url(cred.response[name]) : null;
  return { json: { id: cred.id, rawId: toB64url(cred.rawId), type: cred.type, response }, response: cred.response };
}

// options: the server's PublicKeyCredentialCreationOptions → the JSON credential to post.
export async function createCredential(options) {
  const { json, response } = await ceremony(
    'create',
    {
      ...options,
      challenge: toBytes(options.challenge),
      user: { ...options.user, id: toBytes(options.user.id) },
      excludeCredentials: descriptors(options.excludeCredentials),
    },
    ['clientDataJSON', 'attestationObject'],
  );
  json.response.transports = typeof response.getTransports === 'function' ? response.getTransports() : [];
  return json;
}

// options: the server's PublicKeyCredentialRequestOptions → the JSON assertion to post.
export async function getAssertion(options) {
  const { json } = await ceremony(
    'get',
    { ...options, challenge: toBytes(options.challenge), allowCredentials: descriptors(options.allowCredentials) },
    ['clientDataJSON', 'authenticatorData', 'signature', 'userHandle'],
  );
  return json;
}
