// The test console: one message in, the webhook's trace out as a readable step-by-step view,
// the failing stage highlighted with its code and message.

import { call, projectPath, seg } from './api.js';
import { field, fill, h, notice } from './dom.js';

const STAGES = [
  ['webhook', 'Webhook ready'],
  ['admission', 'Admitted'],
  ['request', 'Request sent'],
  ['upstream', 'Upstream answer'],
  ['mapping', 'Response processing'],
  ['plugin', 'Plugin'],
  ['reply', 'Replies'],
];

const ms = (value) => (typeof value === 'number' ? `${value.toFixed(1)} ms` : '');

function pairs(title, entries) {
  const list = entries.filter(([, v]) => v !== undefined);
  if (!list.length) return h('p', { class: 'muted' }, `${title}: none`);
  return [h('p', { class: 'pairs-title' }, `${title}:`), h('dl', { class: 'pairs' }, list.map(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))]))];
}

function block(text) {
  return h('pre', { class: 'body' }, text);
}

/** The steps of a trace, each with what it did; the failing one marked. */
export function renderTrace(trace) {
  const failed = trace.error ? trace.error.stage : null;
  const timings = trace.timings_ms || {};
  const steps = [];
  const failedAt = STAGES.findIndex(([stage]) => stage === failed);
  for (const [index, [stage, title]] of STAGES.entries()) {
    // Nothing after the failing stage ran.
    if (failedAt >= 0 && index > failedAt) break;
    let content = null;
    if (stage === 'request' && trace.request) {
      const r = trace.request;
      content = [h('p', {}, h('code', {}, `${r.method} ${r.url}`)), pairs('Headers', Object.entries(r.headers || {})), r.body ? block(r.body) : null];
    } else if (stage === 'upstream' && trace.upstream) {
      const u = trace.upstream;
      content = [h('p', {}, `Status ${u.status}`), pairs('Headers', u.headers || []), block(u.body), u.body_truncated ? h('p', { class: 'muted' }, 'Body cut for the console.') : null];
    } else if (stage === 'mapping' && (trace.upstream || failed === 'mapping')) {
      content = [
        pairs('Variables', Object.entries(trace.variables || {})),
        trace.missing_variables && trace.missing_variables.length ? h('p', {}, 'Not found: ', trace.missing_variables.join(', ')) : null,
      ];
    } else if (stage === 'plugin' && trace.plugin) {
      const p = trace.plugin;
      content = [
        h('p', {}, `Version ${p.version}, sha256 `, h('code', { class: 'sha' }, p.sha256)),
        p.logs && p.logs.length ? h('ol', { class: 'logs' }, p.logs.map((line) => h('li', {}, `[${line.level}] ${line.message}`))) : h('p', { class: 'muted' }, 'No log lines.'),
      ];
    } else if (stage === 'reply' && (trace.replies.length || failed === 'reply')) {
      content = h('ol', { class: 'replies' }, trace.replies.map((reply) => h('li', {}, reply.text, reply.buttons && reply.buttons.length ? h('span', { class: 'muted' }, ` [${reply.buttons.map((b) => `${b.label} → ${b.payload}`).join(', ')}]`) : null)));
    }
    if (!content && stage !== failed) continue;
    const isFailed = stage === failed;
    steps.push(
      h(
        'li',
        { class: isFailed ? 'step failed' : 'step', 'data-stage': stage },
        h('h4', {}, title, ' ', h('span', { class: 'muted' }, ms(timings[stage]))),
        isFailed ? h('p', { class: 'stage-error', role: 'alert' }, h('strong', {}, `Failed at ${stage}: ${trace.error.code}`), ' — ', trace.error.message) : null,
        content,
      ),
    );
  }
  return h(
    'div',
    { class: 'trace', id: 'trace' },
    h('p', { class: `outcome ${trace.outcome}`, id: 'trace-outcome' }, `Outcome: ${trace.outcome}`, ' ', h('span', { class: 'muted' }, `(${ms(timings.total)} in all)`)),
    h('ol', { class: 'steps' }, steps),
    trace.clipped && trace.clipped.length ? h('p', { class: 'muted' }, 'Cut to keep the answer small: ', trace.clipped.join(', ')) : null,
  );
}

export function testConsole(project, webhook) {
  const message = h('input', { id: 'test-message', required: true, autocomplete: 'off' });
  const sendId = h('input', { id: 'test-send-id', value: 'test-console', autocomplete: 'off' });
  const status = h('p', { id: 'test-status', role: 'status' });
  const output = h('div', { id: 'test-output', 'aria-live': 'polite' });
  const form = h(
    'form',
    { class: 'card', id: 'test-form', 'aria-labelledby': 'test-title' },
    h('h2', { id: 'test-title' }, 'Test console'),
    h('p', { class: 'hint' }, 'Runs this webhook on a message and shows every step; nothing is recorded in a conversation.'),
    h('div', { class: 'columns tight' }, field('Message', message), field('Send id', sendId)),
    h('button', { type: 'submit', id: 'test-run' }, 'Run test'),
    status,
    output,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    status.textContent = '';
    try {
      const trace = await call('POST', projectPath(project, `/webhooks/${seg(webhook)}/test`), {
        latest_message: message.value,
        send_id: sendId.value.trim() || 'test-console',
      });
      fill(output, renderTrace(trace));
    } catch (error) {
      fill(output);
      notice(status, 'error', error.message);
    }
  });
  return form;
}
