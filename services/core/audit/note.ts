import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';

/**
 * Signed notes as C2SP `signed-note` (the format of Go's golang.org/x/mod/sumdb/note): a UTF-8 text
 * ending in a newline, a blank line, then one line per signature, `— <key name> <base64(4-byte key
 * id ‖ signature)>` (em dash U+2014, then a space). key id = the first 4 bytes of
 * SHA-256(key name ‖ 0x0A ‖ type byte ‖ public key). A verifier key is written
 * `<name>+<8 hex digits of key id>+<base64(type byte ‖ public key)>`.
 */

/** Signature types: 0x01 Ed25519 (log signatures), 0x04 Ed25519 timestamped cosignature (tlog-cosignature v1). */
export const keyTypes = { ed25519: 0x01, cosignatureV1: 0x04 } as const;
export type KeyType = (typeof keyTypes)[keyof typeof keyTypes];

/** Most signatures a note may carry (as Go's reference implementation). */
export const maxSignatures = 100;

export class MalformedNoteError extends Error {
  readonly code = 'malformed_note';
  readonly retriable = false;
}

/** A public key that can check one kind of signature under one name. */
export interface NoteVerifierKey {
  name: string;
  type: KeyType;
  /** The 4-byte key id as an unsigned integer. */
  keyId: number;
  publicKey: Buffer;
  /** The `<name>+<hex id>+<base64>` form. */
  text: string;
}

/** One signature line of a note. */
export interface NoteSignature {
  name: string;
  keyId: number;
  /** The decoded bytes after the key id (a signature, or timestamp ‖ signature for a cosignature). */
  bytes: Buffer;
  /** The line as written, without its newline. */
  line: string;
}

const nameRe = /^[^\s+]+$/u;

/** The key id of a public key: the first 4 bytes of SHA-256(name ‖ 0x0A ‖ type ‖ key), big-endian. */
export function keyIdOf(name: string, type: KeyType, publicKey: Uint8Array): number {
  return createHash('sha256')
    .update(Buffer.from(`${name}\n`, 'utf8'))
    .update(Buffer.of(type))
    .update(publicKey)
    .digest()
    .readUInt32BE(0);
}

const hex8 = (id: number): string => id.toString(16).padStart(8, '0');

/** Builds a verifier key from a name, a type and a 32-byte Ed25519 public key. */
export function verifierKey(name: string, type: KeyType, publicKey: Uint8Array): NoteVerifierKey {
  if (!nameRe.test(name)) throw new MalformedNoteError(`key name "${name}" has a space or "+"`);
  if (publicKey.length !== 32) throw new MalformedNoteError('an Ed25519 public key is 32 bytes');
  const keyId = keyIdOf(name, type, publicKey);
  const body = Buffer.concat([Buffer.of(type), publicKey]).toString('base64');
  return { name, type, keyId, publicKey: Buffer.from(publicKey), text: `${name}+${hex8(keyId)}+${body}` };
}

const strictBase64 = (text: string): Buffer | undefined => {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
};

/** Parses `<name>+<hex id>+<base64(type ‖ key)>`; throws MalformedNoteError saying what is wrong. */
export function parseVerifierKey(text: string): NoteVerifierKey {
  const match = /^([^\s+]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(text.trim());
  if (!match) throw new MalformedNoteError('a verifier key is <name>+<8 hex digits>+<base64 key>');
  const [, name, id, body] = match as unknown as [string, string, string, string];
  const bytes = strictBase64(body);
  if (bytes?.length !== 33) throw new MalformedNoteError('the key is not base64 of a type byte and 32 bytes');
  const type = bytes[0];
  if (type !== keyTypes.ed25519 && type !== keyTypes.cosignatureV1)
    throw new MalformedNoteError(
      `key type 0x${type?.toString(16)} is not Ed25519 (0x01) or a cosignature key (0x04)`,
    );
  const key = verifierKey(name, type, bytes.subarray(1));
  if (hex8(key.keyId) !== id) throw new MalformedNoteError(`the key id ${id} does not match the key`);
  return key;
}

// PKCS#8 DER of an Ed25519 private key, before its 32-byte seed (RFC 8410).
const pkcs8Ed25519Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');

/** An Ed25519 private key from its 32-byte seed. */
export function ed25519FromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new TypeError('an Ed25519 seed is 32 bytes');
  return createPrivateKey({ key: Buffer.concat([pkcs8Ed25519Prefix, seed]), format: 'der', type: 'pkcs8' });
}

/** The raw 32-byte public key of an Ed25519 private or public key. */
export function ed25519PublicBytes(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== 'ed25519') throw new TypeError('the key is not an Ed25519 key');
  const jwk = pub.export({ format: 'jwk' }) as { x?: string };
  return Buffer.from(jwk.x ?? '', 'base64url');
}

/** A signer: a name, a private key and the kind of signature it makes. */
export interface NoteSigner {
  key: NoteVerifierKey;
  /** The bytes after the key id on the signature line for this message. */
  sign(message: Buffer): Buffer;
}

/** An Ed25519 note signer (type 0x01). */
export function ed25519Signer(name: string, privateKey: KeyObject): NoteSigner {
  const key = verifierKey(name, keyTypes.ed25519, ed25519PublicBytes(privateKey));
  return { key, sign: (message) => sign(null, message, privateKey) };
}

/** Checks `signature` (64 bytes) over `message` with a raw Ed25519 public key. */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), publicKey]);
  try {
    return verify(null, message, createPublicKey({ key: spki, format: 'der', type: 'spki' }), signature);
  } catch {
    return false;
  }
}

/** The signature line of `signer` for a note text. */
export function signatureLine(key: NoteVerifierKey, bytes: Buffer): string {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(key.keyId);
  return `— ${key.name} ${Buffer.concat([id, bytes]).toString('base64')}`;
}

function checkText(text: string): void {
  if (!text.endsWith('\n')) throw new MalformedNoteError('the note text does not end in a newline');
  // Text is printable UTF-8 lines: no control characters but the newline.
  const control = [...text].some((c) => {
    const code = c.charCodeAt(0);
    return (code < 0x20 && code !== 0x0a) || code === 0x7f;
  });
  if (control || text.includes('\uFFFD'))
    throw new MalformedNoteError('the note text holds a control character or invalid UTF-8');
}

/** Signs a note text with every signer: the text, a blank line and one line per signature. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  checkText(text);
  const message = Buffer.from(text, 'utf8');
  return `${text}\n${signers.map((s) => `${signatureLine(s.key, s.sign(message))}\n`).join('')}`;
}

/** Splits a signed note into its text and signature lines; throws MalformedNoteError when it is not one. */
export function parseNote(note: string): { text: string; signatures: NoteSignature[] } {
  const split = note.lastIndexOf('\n\n');
  if (split < 0 || !note.endsWith('\n'))
    throw new MalformedNoteError('a signed note is text, a blank line, then signature lines');
  const text = note.slice(0, split + 1);
  checkText(text);
  const lines = note.slice(split + 2, -1).split('\n');
  if (lines.length > maxSignatures) throw new MalformedNoteError(`more than ${maxSignatures} signatures`);
  const signatures = lines.map((line): NoteSignature => {
    const match = /^— ([^\s+]+) ([A-Za-z0-9+/=]+)$/u.exec(line);
    const bytes = match ? strictBase64(match[2]!) : undefined;
    if (!match || !bytes || bytes.length < 5)
      throw new MalformedNoteError(`"${line}" is not a signature line`);
    return { name: match[1]!, keyId: bytes.readUInt32BE(0), bytes: bytes.subarray(4), line };
  });
  return { text, signatures };
}

/** The signatures of a note made by `key` whose bytes verify over `message` with `check`. */
export function signaturesBy(signatures: readonly NoteSignature[], key: NoteVerifierKey): NoteSignature[] {
  return signatures.filter((s) => s.name === key.name && s.keyId === key.keyId);
}

/** True when the note carries a valid Ed25519 (type 0x01) signature by `key` over its text. */
export function verifyNoteSignature(
  note: { text: string; signatures: readonly NoteSignature[] },
  key: NoteVerifierKey,
): boolean {
  if (key.type !== keyTypes.ed25519) return false;
  const message = Buffer.from(note.text, 'utf8');
  return signaturesBy(note.signatures, key).some((s) => ed25519Verify(key.publicKey, message, s.bytes));
}
