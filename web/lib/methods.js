// What the UI knows about each kind of second-factor method. New kinds (push, security
// key, SMS, YubiKey OTP) get their enrolment and sign-in views by filling in `enrol`
// and `signIn` here; the chooser and the sign-in step list whatever is available.

export const METHOD_TYPES = {
  totp: {
    name: 'Authenticator app',
    description: 'Codes from an app such as Aegis, Authy, Google Authenticator or oathtool.',
    // Enrolment view module path (lazy-loaded) and the sign-in step kind.
    enrol: '/views/enrol-totp.js',
    signIn: 'code',
    codeType: 'totp',
    codePrompt: 'Enter the 6-digit code from your authenticator app.',
  },
  push: {
    name: 'twostep Authenticator',
    description: 'Approve sign-ins with the twostep-auth companion; it also makes codes offline.',
    enrol: '/views/enrol-push.js',
    // Sign-in: an approval request (number matching); its offline codes are TOTP codes.
    signIn: 'approval',
    codeType: 'totp',
    codePrompt: 'Enter the 6-digit code that twostep-auth shows (twostep-auth code). It works offline.',
  },
  webauthn: {
    name: 'Security key',
    description: 'A YubiKey or other FIDO2 key, or a passkey on this device.',
    enrol: '/views/enrol-webauthn.js',
    signIn: 'webauthn',
  },
  sms: {
    name: 'Text message',
    description: 'A code sent by SMS to your mobile phone.',
    enrol: '/views/enrol-sms.js',
    // The second step first sends the code (POST /login/sms), then asks for it.
    signIn: 'sms',
    codeType: 'sms',
  },
  yubiotp: {
    name: 'YubiKey OTP',
    description: 'The one-time password your YubiKey types.',
    enrol: '/views/enrol-yubiotp.js',
    signIn: 'code',
    codeType: 'yubiotp',
    codePrompt: 'Click in the field, then touch your YubiKey: it types the code for you.',
    // The OTP is 44 modhex letters, not digits.
    codeInput: { inputmode: 'text', pattern: null, maxlength: 64, autocomplete: 'off', autocapitalize: 'none' },
  },
};

export function typeName(type) {
  return (METHOD_TYPES[type] && METHOD_TYPES[type].name) || type;
}

// The kinds a user may add: those the UI knows how to enrol, among `available`, the types the
// server takes now (GET /api/v1/methods/available: the operator may switch some off, e.g.
// SMS).
export function enrollableTypes(available) {
  return Object.entries(METHOD_TYPES)
    .filter(([type, info]) => info.enrol && available.includes(type))
    .map(([type, info]) => ({ type, ...info }));
}

// A method the user has whose type the operator switched off: listed, removable, not usable.
export function isAvailable(method) {
  return method.available !== false;
}

// What the re-authentication dialog may offer the signed-in user `me` (from /me): a code step
// when 2FA is on, with only the method types the server still accepts (a type the operator
// switched off cannot re-authenticate; recovery codes always can).
export function reauthOptions(me) {
  return {
    twofa: Boolean(me.twofa_enabled),
    types: (me.methods || []).filter(isAvailable).map((m) => m.type),
  };
}
