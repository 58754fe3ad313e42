import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  checkpointText,
  ed25519Cosigner,
  parseSignedCheckpoint,
  verifyCosignature,
  verifyLogSignature,
  withSignatureLines,
} from '../../services/core/audit/checkpoint.js';
import {
  ed25519FromSeed,
  ed25519Signer,
  keyTypes,
  MalformedNoteError,
  parseNote,
  parseVerifierKey,
  signNote,
  verifierKey,
  verifyNoteSignature,
} from '../../services/core/audit/note.js';

// Go's golang.org/x/mod/sumdb/note tests (note_test.go): a fixed key pair, a note text and its signatures.
const goSignerKey = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const peterKey = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const enochKey = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const text =
  'If you think cryptography is the answer to your problem,\n' +
  "then you don't know what your problem is.\n";
const peterSig =
  '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const enochSig =
  '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';

/** The Go signer key: PRIVATE+KEY+<name>+<id>+base64(0x01 ‖ seed). */
function goSigner() {
  const seed = Buffer.from(goSignerKey.split('+').slice(4).join('+'), 'base64');
  expect(seed[0]).toBe(keyTypes.ed25519);
  return ed25519Signer('PeterNeumann', ed25519FromSeed(seed.subarray(1)));
}

describe('signed notes (C2SP signed-note), against Go sumdb/note', () => {
  it('derives the same verifier key and key id from the same seed', () => {
    const signer = goSigner();
    expect(signer.key.text).toBe(peterKey);
    expect(signer.key.keyId).toBe(0xc74f20a3);
    expect(parseVerifierKey(peterKey)).toMatchObject({ name: 'PeterNeumann', keyId: 0xc74f20a3, type: 1 });
    expect(parseVerifierKey(enochKey).keyId).toBe(0xaf0cfe78);
  });

  it('produces byte for byte the signed note Go produces', () => {
    expect(signNote(text, [goSigner()])).toBe(`${text}\n${peterSig}`);
  });

  it("accepts Go's signatures and tells verified from unverified ones", () => {
    const note = parseNote(`${text}\n${peterSig}${enochSig}`);
    expect(note.text).toBe(text);
    expect(note.signatures.map((s) => [s.name, s.keyId])).toEqual([
      ['PeterNeumann', 0xc74f20a3],
      ['EnochRoot', 0xaf0cfe78],
    ]);
    expect(verifyNoteSignature(note, parseVerifierKey(peterKey))).toBe(true);
    expect(verifyNoteSignature(note, parseVerifierKey(enochKey))).toBe(true);
    // Peter's signature over another text, or Enoch's key under another name, verify nothing.
    expect(verifyNoteSignature(parseNote(`${text}x\n\n${peterSig}`), parseVerifierKey(peterKey))).toBe(false);
    const other = generateKeyPairSync('ed25519').privateKey;
    expect(verifyNoteSignature(note, ed25519Signer('PeterNeumann', other).key)).toBe(false);
    const corrupt = `${text}\n${peterSig.slice(0, 60)}ABCD${peterSig.slice(60)}`;
    expect(verifyNoteSignature(parseNote(corrupt), parseVerifierKey(peterKey))).toBe(false);
  });

  it('refuses mangled verifier keys and malformed notes, as Go does', () => {
    for (let i = 0; i < peterKey.length; i++) {
      const mangled =
        peterKey.slice(0, i) + String.fromCharCode(peterKey.charCodeAt(i) + 1) + peterKey.slice(i + 1);
      expect(() => parseVerifierKey(mangled), mangled).toThrow(MalformedNoteError);
    }
    expect(() => parseVerifierKey(peterKey.slice(0, -1))).toThrow(MalformedNoteError);
    expect(() =>
      parseVerifierKey('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=='),
    ).toThrow(MalformedNoteError);
    expect(() =>
      parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'),
    ).toThrow(MalformedNoteError);
    const bad = [
      text,
      `${text}\n`,
      `${text}\n${peterSig.slice(0, -1)}`,
      `\x01${text}\n${peterSig}`,
      `${text}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`,
      `${text}\n${peterSig}Unexpected line.\n`,
      `${text}\n${peterSig.repeat(101)}`,
    ];
    for (const note of bad) expect(() => parseNote(note), JSON.stringify(note)).toThrow(MalformedNoteError);
  });
});

describe('checkpoints and cosignatures (C2SP tlog-checkpoint, tlog-cosignature v1)', () => {
  const logKey = generateKeyPairSync('ed25519').privateKey;
  const log = ed25519Signer('glasshouse.local/audit', logKey);
  const root = Buffer.alloc(32, 7);
  const body = checkpointText({ origin: 'glasshouse.local/audit', size: 42, root });

  it('writes origin, size and base64 root, and reads them back with the signature', () => {
    expect(body).toBe(`glasshouse.local/audit\n42\n${root.toString('base64')}\n`);
    const signed = parseSignedCheckpoint(signNote(body, [log]));
    expect(signed).toMatchObject({ origin: 'glasshouse.local/audit', size: 42 });
    expect(signed.root.equals(root)).toBe(true);
    expect(verifyLogSignature(signed, log.key)).toBe(true);
    expect(
      verifyLogSignature(
        signed,
        ed25519Signer('glasshouse.local/audit', generateKeyPairSync('ed25519').privateKey).key,
      ),
    ).toBe(false);
    for (const broken of [
      'o\n01\nAAAA\n',
      'o\n1\nAAAA\n',
      'o\n-1\n' + root.toString('base64') + '\n',
      '\n1\nx\n',
    ])
      expect(() => parseSignedCheckpoint(`${broken}\n${signNote(body, [log]).split('\n\n')[1]}`)).toThrow(
        MalformedNoteError,
      );
  });

  it('cosigns with a timestamped type 0x04 key over cosignature/v1, time and the checkpoint', () => {
    const witness = ed25519Cosigner('witness.example', generateKeyPairSync('ed25519').privateKey);
    expect(parseVerifierKey(witness.key.text).type).toBe(keyTypes.cosignatureV1);
    const note = withSignatureLines(signNote(body, [log]), [witness.cosign(body, 1_700_000_000)]);
    const signed = parseSignedCheckpoint(note);
    expect(signed.signatures).toHaveLength(2);
    const cosig = signed.signatures[1]!;
    expect(cosig.bytes).toHaveLength(72);
    expect(cosig.bytes.readBigUInt64BE(0)).toBe(1_700_000_000n);
    expect(verifyCosignature(signed.text, signed.signatures, witness.key)).toBe(1_700_000_000);
    expect(verifyLogSignature(signed, log.key)).toBe(true);
    // A cosignature does not count as the log's signature, nor over another checkpoint.
    expect(
      verifyCosignature(signed.text, signed.signatures, verifierKey(log.key.name, 4, log.key.publicKey)),
    ).toBeUndefined();
    const other = checkpointText({ origin: 'glasshouse.local/audit', size: 43, root });
    expect(verifyCosignature(other, signed.signatures, witness.key)).toBeUndefined();
    // The same line is never added twice.
    expect(withSignatureLines(note, [cosig.line])).toBe(note);
  });
});
