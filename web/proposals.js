// Proposed changes to goals and owners, public before they take effect: the pending change on each
// module (what changes, who proposed and approved it, its flags in words, a countdown to when it takes
// effect) and the "Pending changes" view of every open proposal.
import { getJson, unavailable } from './api.js';
import { esc, when } from './format.js';

const stateWords = {
  proposed: 'Awaiting approval',
  approved: 'Approved, in its notice period',
  applied: 'In force',
  rejected: 'Rejected',
  withdrawn: 'Withdrawn',
  expired: 'Expired unapproved',
};

/** A person as the audit log names them (`admin:carol`) in words. */
function person(actor) {
  if (actor === 'system:glasshouse') return 'Glasshouse';
  return String(actor).replace(/^admin:/, '');
}

function value(v) {
  if (v === undefined || v === null) return '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** One change in words: "goal ontime: target 90 → 85", "owner ada → bob". */
function changeWords(module, change, ownerName) {
  const parts = change.path.split('.');
  if (parts[0] === 'owner') return `owner ${ownerName(change.before)} → ${ownerName(change.after)}`;
  if ((parts[0] === 'goals' || parts[0] === 'constraints') && parts.length >= 3) {
    const rule = module?.[parts[0]]?.[Number(parts[1])];
    const label = parts[0] === 'goals' ? 'goal' : 'limit';
    return `${label} ${rule?.id ?? parts[1]}: ${parts.slice(2).join(' ')} ${value(change.before)} → ${value(change.after)}`;
  }
  if (parts.length === 1 && Array.isArray(change.after))
    return `${parts[0]}: ${change.after.map((item) => item?.id ?? value(item)).join(', ') || 'none'}`;
  return `${change.path}: ${value(change.before)} → ${value(change.after)}`;
}

/** "2 d 3 h", "4 min 10 s": how long until `iso`. */
export function countdown(iso, now = Date.now()) {
  let s = Math.max(0, Math.floor((Date.parse(iso) - now) / 1000));
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `${d} d ${h} h ${m} min ${s} s`;
  if (h > 0) return `${h} h ${m} min ${s} s`;
  return `${m} min ${s} s`;
}

/** One proposal as a public notice. `module` is the module's current version (for goal names). */
export function proposalHtml(proposal, module, ownerName) {
  const changes = (proposal.changes ?? []).map((c) => changeWords(module, c, ownerName));
  const approvers = (proposal.approvals ?? []).map((a) => person(a.by));
  const missing = proposal.requiredApprovals - approvers.length;
  const timing =
    proposal.state === 'approved' && proposal.effectiveAt
      ? `takes effect on <time datetime="${esc(proposal.effectiveAt)}">${esc(when(proposal.effectiveAt))}</time> (in <span class="countdown" data-until="${esc(proposal.effectiveAt)}">${esc(countdown(proposal.effectiveAt))}</span>)`
      : proposal.state === 'proposed'
        ? `needs ${missing} more approval${missing === 1 ? '' : 's'} by ${esc(when(proposal.expiresAt))} (<span class="countdown" data-until="${esc(proposal.expiresAt)}">${esc(countdown(proposal.expiresAt))}</span> left), then ${esc(proposal.noticePeriod)} public notice`
        : esc(stateWords[proposal.state] ?? proposal.state);
  const flags = (proposal.flags ?? []).length
    ? `<ul class="proposal-flags" aria-label="Why this change deserves a second look">${proposal.flags
        .map((flag) => `<li class="proposal-flag" data-flag="${esc(flag.code)}">⚑ ${esc(flag.message)}</li>`)
        .join('')}</ul>`
    : '';
  return `<div class="pending-change" data-proposal="${esc(proposal.id)}" data-state="${esc(proposal.state)}">
    <p class="pending-head"><strong>Pending change:</strong> <span class="pending-what">${esc(changes.join('; ') || 'no field changes')}</span></p>
    <p class="pending-who small">Proposed by ${esc(person(proposal.proposedBy))}${approvers.length ? `, approved by ${esc(approvers.join(' and '))}` : ''}; <span class="pending-when">${timing}</span>.</p>
    <p class="pending-why small">“${esc(proposal.rationale)}”</p>
    ${flags}
    <p class="small"><a href="/v1/proposals/${esc(proposal.id)}">The proposal as published</a> (approvals bind to its content hash <code>${esc(proposal.contentHash.slice(0, 12))}…</code>)</p>
  </div>`;
}

/** The block on a module card: its pending change, or, without independent approval, a note saying so. */
export function moduleChangesHtml(module, ownerName) {
  const pending = (module.pendingChanges ?? []).map((p) => proposalHtml(p, module, ownerName)).join('');
  const note =
    module.changesApproved === false
      ? '<p class="unapproved-note small" role="note">Changes here are not independently approved: this deployment lets one administrator change goals and owners directly (each change is still in the audit trail).</p>'
      : '';
  return `<div class="module-changes">${note}${pending}</div>`;
}

/** `#/changes`: every open proposal, approved ones (with their countdown) first. */
export async function renderPendingChanges(view, ctx) {
  view.innerHTML = '<h2 id="view-title">Pending changes</h2><p class="muted">Loading…</p>';
  const [approved, proposed] = await Promise.all([
    getJson('/v1/proposals?state=approved'),
    getJson('/v1/proposals?state=proposed'),
  ]);
  if (!ctx.isCurrent()) return;
  if (!approved.ok || !proposed.ok) {
    view.innerHTML = `<h2 id="view-title">Pending changes</h2><p class="muted">${esc(unavailable(approved.ok ? proposed : approved, 'The list of proposed changes'))}</p>`;
    return;
  }
  const items = [...approved.body.items, ...proposed.body.items];
  const intro =
    '<p class="small">A change to a goal, a limit or who is responsible is proposed by one administrator, approved by others (two when it makes a goal easier to meet or touches a module in trouble), and then public for a notice period before it takes effect.</p>';
  view.innerHTML = `<h2 id="view-title">Pending changes</h2>${intro}${
    items.length
      ? `<ul class="pending-list">${items
          .map((p) => {
            const module = ctx.modules.get(p.moduleId);
            return `<li class="pending-item" data-module="${esc(p.moduleId)}"><h3><a href="#/module/${esc(p.moduleId)}">${esc(module?.title ?? p.moduleId)}</a> <span class="tag">${esc(stateWords[p.state] ?? p.state)}</span></h3>${proposalHtml(p, module, ctx.ownerName)}</li>`;
          })
          .join('')}</ul>`
      : '<p class="muted pending-none">No changes are pending.</p>'
  }`;
}

/** Refreshes every countdown on the page (called once a second). */
export function tickCountdowns(root = document) {
  for (const el of root.querySelectorAll('.countdown[data-until]'))
    el.textContent = countdown(el.dataset.until);
}
