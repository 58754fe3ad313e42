// The audit trail: the server's verification of the hash chain (GET /v1/audit/verify), the entries page
// by page (GET /v1/audit?after=), and how to check it without trusting this server.
import { getJson, unavailable } from './api.js';
import { esc, when } from './format.js';
import { checkTransparency } from './transparency.js';

const pageSize = 50;

const actionWords = {
  'module.put': 'Module changed',
  'sociotechnician.put': 'Profile of a responsible person set',
  'agency.create': 'Agency key issued',
  'agency.revoke': 'Agency key revoked',
  'overseer.create': 'Oversight token issued',
  'overseer.revoke': 'Oversight token revoked',
  'admin.create': 'Admin token issued',
  'admin.revoke': 'Admin token revoked',
  'alert.acknowledge': 'Alert acknowledged',
};

function actionText(entry) {
  if (entry.action === 'module.put' && entry.before === null) return 'Module registered';
  return actionWords[entry.action] ?? entry.action;
}

function verifyHtml(result) {
  if (!result.ok)
    return `<div class="notice" role="note">${esc(unavailable(result, 'The chain check'))} The audit trail cannot be checked here right now; you can still check it yourself, see below.</div>`;
  if (result.body.valid)
    return `<p class="verify verify-ok" data-valid="true"><span aria-hidden="true">✓</span> Valid: all ${esc(result.body.length)} entries check out, each linked to the one before by its hash.</p>
      <p class="small">Head of the chain (the latest hash): <code class="hash">${esc(result.body.head)}</code></p>`;
  return `<p class="verify verify-broken" data-valid="false"><span aria-hidden="true">✕</span> Broken: the chain fails at entry ${esc(result.body.brokenAt)} of ${esc(result.body.length)}: ${esc(result.body.reason)}.</p>`;
}

function changeSummary(entry) {
  const fields = [];
  const before = entry.before && typeof entry.before === 'object' ? entry.before : {};
  const after = entry.after && typeof entry.after === 'object' ? entry.after : {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) fields.push(key);
  }
  if (entry.before === null) return 'created';
  return fields.length ? `changed: ${fields.join(', ')}` : 'no field changed';
}

function entryHtml(entry) {
  const flags =
    Array.isArray(entry.flags) && entry.flags.length
      ? `<p class="flags">${entry.flags.map((f) => `<span class="tag tag-flag">${esc(f.replace(/[-_]/g, ' '))}</span>`).join(' ')}</p>`
      : '';
  return `<li class="entry" data-seq="${esc(entry.seq)}">
    <p class="entry-head"><span class="seq">#${esc(entry.seq)}</span> <strong>${esc(actionText(entry))}</strong> <span class="muted">· ${esc(entry.subject)}</span></p>
    <p class="small muted">${esc(when(entry.at))} by ${esc(entry.actor)} · ${esc(changeSummary(entry))}</p>
    ${entry.rationale ? `<p class="small">Reason given: “${esc(entry.rationale)}”</p>` : ''}
    ${flags}
    <details><summary class="small">Full entry and hashes</summary><pre class="entry-json">${esc(JSON.stringify(entry, null, 2))}</pre></details>
  </li>`;
}

/** `#/audit`: the verification result, the entries, and how to verify them yourself. */
export async function renderAudit(view, ctx) {
  const origin = location.origin;
  view.innerHTML = `
    <section aria-labelledby="audit-title">
      <h2 id="audit-title">Audit trail</h2>
      <p class="lead">Every change to a goal or to who is responsible, every credential issued and every alert acknowledgement is written to an append-only log. Each entry carries the hash of the one before, so one edited or deleted entry breaks the chain.</p>
      <div id="audit-transparency" class="transparency" data-state="checking" aria-live="polite"><p class="muted">Checking the signed log in your browser…</p></div>
      <div id="audit-verify" aria-live="polite"><p class="muted">Checking the chain…</p></div>
      <section class="verify-yourself" aria-labelledby="yourself-title">
        <h3 id="yourself-title">Verify it yourself</h3>
        <p class="small">Each entry's <code>hash</code> is the SHA-256 (hex) of the entry without its <code>hash</code> field, written as canonical JSON (RFC 8785: keys sorted, no spaces). Its <code>prevHash</code> must equal the hash of the entry before it (the first one's is 64 zeros), and <code>seq</code> counts 1, 2, 3… without gaps.</p>
        <p class="small">Download every page from <a href="/v1/audit">/v1/audit</a> and check them with your own script, or run:</p>
        <pre class="command"><code>glasshouse audit verify ${esc(origin)}</code></pre>
        <p class="small">To keep the log honest over time, save its signed checkpoint and check that every later one extends it: <code>glasshouse audit verify ${esc(origin)} --checkpoint saved.txt --save</code>. This page does the same in your browser on every visit.</p>
        <p class="small">Write down the head hash above; if it ever changes without new entries at the end, the history was rewritten. <a href="/methodology.html#audit">More on the method</a>.</p>
      </section>
      <h3>Entries</h3>
      <ol class="entries" id="audit-entries" aria-label="Audit entries, oldest first"></ol>
      <p id="audit-more-row"><button type="button" class="button hidden" id="audit-more">Show more entries</button> <span id="audit-more-status" class="muted small" aria-live="polite"></span></p>
    </section>`;
  const [verify, transparency] = await Promise.all([
    getJson('/v1/audit/verify'),
    checkTransparency().catch((err) => ({ state: 'unavailable', reason: String(err) })),
    loadPage(ctx, 0),
  ]);
  if (!ctx.isCurrent()) return;
  document.getElementById('audit-verify').innerHTML = verifyHtml(verify);
  showTransparency(document.getElementById('audit-transparency'), transparency);
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 'es'}`;
}

/** The browser's own check, in words; a rewritten history with its evidence to download. */
function showTransparency(box, result) {
  box.dataset.state = result.state;
  if (result.state === 'verified') {
    box.innerHTML = `<p class="log-verified verify-ok"><span aria-hidden="true">✓</span> Verified by the log and ${esc(plural(result.witnesses, 'witness'))}: the log's signed checkpoint covers ${esc(result.size)} entries and the entries shown here hash to it.</p>
      <p class="small">${result.first ? 'Your browser saved this checkpoint. On your next visit it checks that the log only grew since, and warns you if anything before was changed.' : 'Your browser checked that the log only grew since your last visit: nothing before was changed.'}</p>`;
    return;
  }
  if (result.state === 'unavailable') {
    box.innerHTML = `<p class="muted small">The signed log could not be checked in your browser (${esc(result.reason)}).</p>`;
    return;
  }
  const since = result.savedAt ? ` since your last visit (${esc(when(result.savedAt))})` : '';
  box.innerHTML = `<div class="alarm" role="alert">
      <p><strong>Warning: the history of this audit log was rewritten${since}.</strong> Entries you could see before have been changed or removed, although the log still looks intact on its own: ${esc(result.reason)}.</p>
      <p>Keep the evidence and show it to a journalist, an auditor or a court: it holds both signed checkpoints, the log's proof and the entries.</p>
      <p><a class="button" id="audit-evidence" download="glasshouse-audit-evidence.json">Download the evidence</a></p>
    </div>`;
  const blob = new Blob([`${JSON.stringify(result.evidence, null, 2)}\n`], { type: 'application/json' });
  document.getElementById('audit-evidence').href = URL.createObjectURL(blob);
}

async function loadPage(ctx, after) {
  const list = document.getElementById('audit-entries');
  const button = document.getElementById('audit-more');
  const status = document.getElementById('audit-more-status');
  if (!list || !button || !status) return;
  status.textContent = 'Loading…';
  const result = await getJson(`/v1/audit?after=${encodeURIComponent(after)}&limit=${pageSize}`);
  if (!ctx.isCurrent()) return;
  if (!result.ok || !Array.isArray(result.body.items)) {
    status.textContent = unavailable(result, 'The audit log');
    return;
  }
  list.insertAdjacentHTML('beforeend', result.body.items.map(entryHtml).join(''));
  const shown = list.querySelectorAll('.entry').length;
  if (shown === 0) list.innerHTML = '<li class="muted">No entries yet.</li>';
  const next = typeof result.body.next === 'string' ? result.body.next : undefined;
  button.classList.toggle('hidden', next === undefined);
  button.onclick = next === undefined ? null : () => loadPage(ctx, next);
  status.textContent = next === undefined ? `${shown} entries, all shown.` : `${shown} entries shown.`;
}
