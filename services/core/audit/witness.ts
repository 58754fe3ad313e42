import {
  type Cosigner,
  parseSignedCheckpoint,
  type SignedCheckpoint,
  verifyLogSignature,
} from './checkpoint.js';
import { emptyRoot, verifyConsistency } from './merkle.js';
import { MalformedNoteError, type NoteVerifierKey } from './note.js';

/**
 * The decision of a C2SP `tlog-witness` on `POST /add-checkpoint`, without I/O: the caller persists
 * the new state before it answers 200 (a witness that answered and then forgot could be made to
 * cosign a second root of the same size).
 */

/** What a witness remembers per log: the last checkpoint it cosigned. */
export interface WitnessLogState {
  size: number;
  root: Buffer;
}

export type AddCheckpointOutcome =
  | { status: 200; origin: string; state: WitnessLogState; cosignature: string; checkpoint: SignedCheckpoint }
  | { status: 409; size: number }
  | { status: 400 | 403 | 404 | 422; code: string; message: string };

/** The request body: `old <size>\n`, the consistency proof as base64 lines, a blank line, the signed checkpoint. */
export function parseAddCheckpoint(body: string): { old: number; proof: Buffer[]; note: string } {
  const split = body.indexOf('\n\n');
  if (split < 0)
    throw new MalformedNoteError('the body is "old <size>", proof lines, a blank line, then the checkpoint');
  const [first, ...proofLines] = body.slice(0, split).split('\n');
  const old = /^old (0|[1-9][0-9]{0,15})$/.exec(first ?? '');
  if (!old || !Number.isSafeInteger(Number(old[1])))
    throw new MalformedNoteError('the first line must be "old <size>"');
  const proof = proofLines.map((line) => {
    const hash = Buffer.from(line, 'base64');
    if (hash.length !== 32 || hash.toString('base64') !== line)
      throw new MalformedNoteError(`proof line "${line.slice(0, 60)}" is not base64 of 32 bytes`);
    return hash;
  });
  if (proof.length > 63) throw new MalformedNoteError('a consistency proof has at most 63 hashes');
  return { old: Number(old[1]), proof, note: body.slice(split + 2) };
}

/**
 * Decides an add-checkpoint request: 404 for a log it does not witness, 403 when no trusted log
 * signature verifies, 400 when old > new size, 409 (with its size) when `old` is not the size it
 * last cosigned, 422 when the consistency proof fails; else 200 with its cosignature and new state.
 */
export function addCheckpoint(options: {
  body: string;
  /** The logs this witness watches, by origin (a log's key name is its origin). */
  logs: ReadonlyMap<string, NoteVerifierKey>;
  state: (origin: string) => WitnessLogState | undefined;
  cosigner: Cosigner;
  /** Unix seconds. */
  now: number;
}): AddCheckpointOutcome {
  let request: ReturnType<typeof parseAddCheckpoint>;
  let checkpoint: SignedCheckpoint;
  try {
    request = parseAddCheckpoint(options.body);
    checkpoint = parseSignedCheckpoint(request.note);
  } catch (err) {
    return { status: 400, code: 'malformed_request', message: (err as Error).message };
  }
  const key = options.logs.get(checkpoint.origin);
  if (!key)
    return {
      status: 404,
      code: 'unknown_log',
      message: `this witness does not witness "${checkpoint.origin}"`,
    };
  if (!verifyLogSignature(checkpoint, key))
    return { status: 403, code: 'not_signed', message: `no valid signature by ${key.text}` };
  if (request.old > checkpoint.size)
    return {
      status: 400,
      code: 'old_too_large',
      message: `old ${request.old} is larger than the checkpoint's ${checkpoint.size}`,
    };
  const known = options.state(checkpoint.origin) ?? { size: 0, root: emptyRoot };
  if (request.old !== known.size) return { status: 409, size: known.size };
  if (checkpoint.size === 0 && !checkpoint.root.equals(emptyRoot))
    return { status: 422, code: 'bad_proof', message: 'a checkpoint of size 0 must have the empty root' };
  if (!verifyConsistency(known.size, checkpoint.size, request.proof, known.root, checkpoint.root))
    return {
      status: 422,
      code: 'bad_proof',
      message: `the proof does not show that size ${checkpoint.size} extends the cosigned size ${known.size}`,
    };
  return {
    status: 200,
    origin: checkpoint.origin,
    state: { size: checkpoint.size, root: checkpoint.root },
    cosignature: options.cosigner.cosign(checkpoint.text, options.now),
    checkpoint,
  };
}
