import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type AuditEntry, genesisHash } from '../../schemas/audit.js';
import {
  ChainVerifier,
  chainEntry,
  emptyHead,
  entryHash,
  verifyChain,
} from '../../services/core/audit/chain.js';

function buildLog(n: number): AuditEntry[] {
  const log: AuditEntry[] = [];
  let head = emptyHead;
  for (let i = 0; i < n; i++) {
    const entry = chainEntry(head, {
      at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
      actor: 'admin:bootstrap',
      action: 'module.put',
      subject: `module:m${i}`,
      before: i === 0 ? null : { target: i - 1 },
      after: { target: i, note: 'é ✓' },
      rationale: `step ${i}`,
    });
    log.push(entry);
    head = { seq: entry.seq, hash: entry.hash };
  }
  return log;
}

describe('audit chain', () => {
  it('hashes the RFC 8785 canonical JSON of the entry without hash', () => {
    const entry = chainEntry(emptyHead, {
      at: '2026-01-01T00:00:00.000Z',
      actor: 'admin:bootstrap',
      action: 'agency.create',
      subject: 'agency:transit',
      before: null,
      after: { name: 'Transit', id: 'transit', n: 1e21, small: 0.1 },
      rationale: null,
    });
    // Written out by hand: keys sorted, no whitespace, numbers in ECMAScript shortest form.
    const canonical =
      '{"action":"agency.create","actor":"admin:bootstrap","after":{"id":"transit","n":1e+21,"name":"Transit","small":0.1},' +
      `"at":"2026-01-01T00:00:00.000Z","before":null,"prevHash":"${genesisHash}","rationale":null,"seq":1,"subject":"agency:transit"}`;
    expect(entry.hash).toBe(createHash('sha256').update(canonical).digest('hex'));
    expect(entryHash(entry)).toBe(entry.hash);
  });

  it('omits empty flags and keeps non-empty ones inside the hash', () => {
    const draft = {
      at: '2026-01-01T00:00:00.000Z',
      actor: 'a',
      action: 'b',
      subject: 'c',
      before: null,
      after: null,
      rationale: 'r',
    };
    expect('flags' in chainEntry(emptyHead, { ...draft, flags: [] })).toBe(false);
    const flagged = chainEntry(emptyHead, { ...draft, flags: ['changed_while_off_track:ontime'] });
    expect(flagged.hash).not.toBe(chainEntry(emptyHead, draft).hash);
    expect(verifyChain([flagged]).valid).toBe(true);
  });

  it('verifies a valid log and reports its head', () => {
    const log = buildLog(5);
    expect(verifyChain(log)).toEqual({ valid: true, length: 5, head: log[4]!.hash });
    expect(verifyChain([])).toEqual({ valid: true, length: 0, head: genesisHash });
  });

  it('reports the exact seq of an altered entry', () => {
    const log = buildLog(5);
    log[2] = { ...log[2]!, rationale: 'rewritten quietly' };
    expect(verifyChain(log)).toEqual({
      valid: false,
      length: 2,
      brokenAt: 3,
      reason: 'hash does not match the entry content',
    });
  });

  it('catches an altered entry whose hash was recomputed, at the next entry', () => {
    const log = buildLog(4);
    const forged = { ...log[1]!, after: { target: 999 } };
    log[1] = { ...forged, hash: entryHash(forged) };
    const result = verifyChain(log);
    expect(result).toMatchObject({
      valid: false,
      brokenAt: 3,
      reason: 'prevHash does not match the previous entry',
    });
  });

  it('reports missing, reordered and malformed entries', () => {
    const log = buildLog(4);
    expect(verifyChain([log[0], log[2], log[3]])).toMatchObject({
      valid: false,
      brokenAt: 2,
      reason: 'entry 2 is missing (found 3)',
    });
    expect(verifyChain([log[1]])).toMatchObject({ valid: false, brokenAt: 1 });
    expect(verifyChain([log[0], { ...log[1], hash: 'nope' }])).toMatchObject({ valid: false, brokenAt: 2 });
    expect(verifyChain([log[0], { ...log[1], extra: true }])).toMatchObject({ valid: false, brokenAt: 2 });
  });

  it('verifies incrementally, page by page, and stays broken once broken', () => {
    const log = buildLog(6);
    const verifier = new ChainVerifier();
    for (const entry of log.slice(0, 3)) expect(verifier.push(entry)).toBe(true);
    expect(verifier.result()).toMatchObject({ valid: true, length: 3, head: log[2]!.hash });
    expect(verifier.push({ ...log[3]!, actor: 'someone else' })).toBe(false);
    expect(verifier.push(log[4])).toBe(false);
    expect(verifier.result()).toMatchObject({ valid: false, length: 3, brokenAt: 4 });
  });
});
