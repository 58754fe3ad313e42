import type { KeyObject } from 'node:crypto';
import { sign as edSign } from 'node:crypto';
import {
  ed25519PublicBytes,
  ed25519Verify,
  keyTypes,
  MalformedNoteError,
  type NoteSignature,
  type NoteVerifierKey,
  parseNote,
  signatureLine,
  signaturesBy,
  verifierKey,
  verifyNoteSignature,
} from './note.js';

/**
 * Checkpoints as C2SP `tlog-checkpoint`: the note text `<origin>\n<tree size>\n<base64 root hash>\n`
 * (extension lines may follow; Glasshouse writes none), signed as a C2SP signed note. Witnesses
 * cosign them as C2SP `tlog-cosignature` v1.
 */
export interface Checkpoint {
  origin: string;
  size: number;
  root: Buffer;
}

/** The note text of a checkpoint. */
export function checkpointText(checkpoint: Checkpoint): string {
  return `${checkpoint.origin}\n${checkpoint.size}\n${checkpoint.root.toString('base64')}\n`;
}

/** Parses a checkpoint's note text; throws MalformedNoteError naming the bad line. */
export function parseCheckpointText(text: string): Checkpoint & { text: string } {
  const lines = text.split('\n');
  const [origin, size, root] = lines;
  if (!origin || lines.length < 4)
    throw new MalformedNoteError('a checkpoint is origin, size and root hash lines');
  if (!size || !/^(0|[1-9][0-9]{0,15})$/.test(size) || !Number.isSafeInteger(Number(size)))
    throw new MalformedNoteError(`the tree size "${size ?? ''}" is not a decimal number`);
  const hash = Buffer.from(root ?? '', 'base64');
  if (hash.length !== 32 || hash.toString('base64') !== root)
    throw new MalformedNoteError('the root hash is not base64 of 32 bytes');
  return { origin, size: Number(size), root: hash, text };
}

/** A signed checkpoint as read: its fields, its text and its signature lines. */
export interface SignedCheckpoint extends Checkpoint {
  text: string;
  signatures: NoteSignature[];
}

/** Parses a signed checkpoint note (signatures not yet checked). */
export function parseSignedCheckpoint(note: string): SignedCheckpoint {
  const { text, signatures } = parseNote(note);
  return { ...parseCheckpointText(text), signatures };
}

/** True when the checkpoint carries a valid signature by the log key. */
export function verifyLogSignature(checkpoint: SignedCheckpoint, logKey: NoteVerifierKey): boolean {
  return verifyNoteSignature(checkpoint, logKey);
}

/** The message a witness signs for a checkpoint at `time` (seconds since the epoch). */
export function cosignedMessage(text: string, time: number): Buffer {
  return Buffer.from(`cosignature/v1\ntime ${time}\n${text}`, 'utf8');
}

/** A witness's cosigner: its key (type 0x04) and a function making the signature line. */
export interface Cosigner {
  key: NoteVerifierKey;
  /** The cosignature line for a checkpoint text at `time` (unix seconds). */
  cosign(text: string, time: number): string;
}

/** A tlog-cosignature/v1 cosigner from an Ed25519 private key. */
export function ed25519Cosigner(name: string, privateKey: KeyObject): Cosigner {
  const key = verifierKey(name, keyTypes.cosignatureV1, ed25519PublicBytes(privateKey));
  return {
    key,
    cosign: (text, time) => {
      const stamp = Buffer.alloc(8);
      stamp.writeBigUInt64BE(BigInt(time));
      return signatureLine(
        key,
        Buffer.concat([stamp, edSign(null, cosignedMessage(text, time), privateKey)]),
      );
    },
  };
}

/** The time of a valid cosignature by `key` on the checkpoint text, or undefined when there is none. */
export function verifyCosignature(
  text: string,
  signatures: readonly NoteSignature[],
  key: NoteVerifierKey,
): number | undefined {
  if (key.type !== keyTypes.cosignatureV1) return;
  for (const s of signaturesBy(signatures, key)) {
    if (s.bytes.length !== 72) continue;
    const time = s.bytes.readBigUInt64BE(0);
    if (time > BigInt(Number.MAX_SAFE_INTEGER)) continue;
    if (ed25519Verify(key.publicKey, cosignedMessage(text, Number(time)), s.bytes.subarray(8)))
      return Number(time);
  }
  return;
}

/** The checkpoint note with `lines` added (each a signature line), none twice. */
export function withSignatureLines(note: string, lines: readonly string[]): string {
  const { signatures } = parseNote(note);
  const known = new Set(signatures.map((s) => s.line));
  let out = note;
  for (const line of lines) {
    if (known.has(line)) continue;
    known.add(line);
    out += `${line}\n`;
  }
  return out;
}
