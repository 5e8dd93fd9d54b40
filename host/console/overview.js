// The project overview: the match threshold, the Fallback (a text or a webhook), the intents
// (add, edit, delete), the webhooks and the secrets (names only).

import { call, projectPath, seg } from './api.js';
import { field, fill, h, notice, when } from './dom.js';

export async function renderOverview(page, project) {
  const [info, intents, webhooks, secrets, fallback, model] = await Promise.all([
    call('GET', projectPath(project)),
    call('GET', projectPath(project, '/intents')),
    call('GET', projectPath(project, '/webhooks')),
    call('GET', projectPath(project, '/secrets')),
    call('GET', projectPath(project, '/fallback')).catch((error) => {
      if (error.status === 404) return null;
      throw error;
    }),
    call('GET', projectPath(project, '/model')),
  ]);
  page.append(
    h('h1', {}, `${info.name} `, h('span', { class: 'muted' }, `(${info.id})`)),
    h(
      'div',
      { class: 'columns' },
      fallbackCard(project, fallback, webhooks.webhooks),
      thresholdCard(project, info.match_threshold, model),
    ),
    webhooksCard(project, webhooks.webhooks),
    intentsCard(project, intents.intents),
    secretsCard(project, secrets.secrets),
  );
}

// What the model answering chats was trained on, and whether it is the current intents' one.
function describeModel(model) {
  if (model.state === 'empty') return 'Model: none yet (no intents).';
  if (model.state === 'too_large') return 'Model: not trained (too many intents or examples).';
  const took = model.training_ms == null ? 'read back from disk' : `trained in ${model.training_ms} ms`;
  const now = `${model.intents} intents, ${model.examples} examples`;
  return model.state === 'trained'
    ? `Model: trained on ${now} (${took}).`
    : `Model: training on ${now}; the previous model answers meanwhile.`;
}

function thresholdCard(project, threshold, model) {
  const input = h('input', { type: 'number', id: 'threshold', min: '0.01', max: '1', step: '0.01', value: String(threshold), required: true });
  const status = h('p', { id: 'threshold-status', role: 'status' });
  const form = h(
    'form',
    { class: 'card', id: 'threshold-form', 'aria-labelledby': 'threshold-title' },
    h('h2', { id: 'threshold-title' }, 'Intent matching'),
    h('p', { id: 'model-status', class: 'muted' }, describeModel(model)),
    field('Match threshold', input, { hint: 'The confidence (a probability) the best intent needs to answer, in (0, 1]; below it the Fallback answers.' }),
    h('button', { type: 'submit' }, 'Save threshold'),
    status,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await call('PATCH', projectPath(project), { match_threshold: Number(input.value) });
      notice(status, 'ok', 'Threshold saved.');
    } catch (error) {
      notice(status, 'error', error.message);
    }
  });
  return form;
}

function describeFallback(fallback) {
  if (!fallback) return 'Now: none (a message no intent matches gets no answer).';
  return 'webhook' in fallback ? `Now: the webhook ${fallback.webhook}.` : `Now: the text “${fallback.text}”.`;
}

function fallbackCard(project, fallback, webhooks) {
  const useWebhook = h('input', { type: 'radio', name: 'fallback-kind', id: 'fallback-kind-webhook', value: 'webhook', checked: !fallback || 'webhook' in fallback });
  const useText = h('input', { type: 'radio', name: 'fallback-kind', id: 'fallback-kind-text', value: 'text', checked: Boolean(fallback && 'text' in fallback) });
  const select = h(
    'select',
    { id: 'fallback-webhook' },
    webhooks.map((id) => h('option', { value: id, selected: Boolean(fallback && fallback.webhook === id) }, id)),
  );
  const text = h('textarea', { id: 'fallback-text', rows: '2', maxlength: '4000', value: fallback && fallback.text ? fallback.text : '' });
  const status = h('p', { id: 'fallback-status', role: 'status' });
  const currentLine = h('p', { id: 'fallback-current' }, describeFallback(fallback));
  const form = h(
    'form',
    { class: 'card', id: 'fallback-form', 'aria-labelledby': 'fallback-title' },
    h('h2', { id: 'fallback-title' }, 'Fallback'),
    currentLine,
    h(
      'fieldset',
      {},
      h('legend', {}, 'When no intent matches, answer with'),
      h('div', { class: 'choice' }, useWebhook, h('label', { for: 'fallback-kind-webhook' }, 'a webhook')),
      h('div', { class: 'choice' }, useText, h('label', { for: 'fallback-kind-text' }, 'a fixed text')),
    ),
    webhooks.length ? field('Webhook', select) : h('p', { class: 'hint' }, 'No webhook yet: create one below.'),
    field('Text', text),
    h('button', { type: 'submit', id: 'fallback-save' }, 'Save fallback'),
    status,
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = useText.checked ? { text: text.value } : { webhook: select.value };
    try {
      const saved = await call('PUT', projectPath(project, '/fallback'), body);
      notice(status, 'ok', 'webhook' in saved ? `Fallback saved: the webhook ${saved.webhook}.` : 'Fallback saved: the text.');
      currentLine.textContent = describeFallback(saved);
    } catch (error) {
      notice(status, 'error', error.message);
    }
  });
  return form;
}

function webhooksCard(project, webhooks) {
  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'webhooks-title' },
    h('h2', { id: 'webhooks-title' }, 'Webhooks'),
    webhooks.length
      ? h('ul', { id: 'webhook-list' }, webhooks.map((id) => h('li', {}, h('a', { href: `#/p/${seg(project)}/webhooks/${seg(id)}` }, id))))
      : h('p', {}, 'No webhook yet.'),
    h('a', { class: 'button', id: 'new-webhook', href: `#/p/${seg(project)}/webhooks/new` }, 'New webhook'),
  );
}

const lines = (text) => text.split('\n').map((line) => line.trim()).filter(Boolean);

function intentsCard(project, intents) {
  const section = h('section', { class: 'card', 'aria-labelledby': 'intents-title' });
  const list = h('div', { id: 'intent-list' });
  const status = h('p', { id: 'intent-status', role: 'status' });
  const idInput = h('input', { id: 'intent-id', required: true, autocomplete: 'off' });
  const examples = h('textarea', { id: 'intent-examples', rows: '4', required: true });
  const responses = h('textarea', { id: 'intent-responses', rows: '3', required: true });
  const form = h(
    'form',
    { id: 'intent-form', 'aria-label': 'Add or edit an intent' },
    h('h3', {}, 'Add or edit an intent'),
    field('Intent id', idInput, { hint: 'Saving an existing id replaces it.' }),
    field('Examples (one per line)', examples),
    field('Responses (one per line)', responses),
    h('button', { type: 'submit', id: 'intent-save' }, 'Save intent'),
  );

  function draw(items) {
    fill(
      list,
      items.length
        ? h(
            'ul',
            { class: 'intents' },
            items.map((intent) =>
              h(
                'li',
                { 'data-intent': intent.id },
                h('h3', {}, intent.id),
                h('p', { class: 'muted' }, `Updated ${when(intent.updated_at)}`),
                h('p', {}, 'Examples: ', intent.examples.join(' · ')),
                h('p', {}, 'Responses: ', intent.responses.join(' · ')),
                h(
                  'div',
                  { class: 'actions' },
                  h('button', { type: 'button', onclick: () => edit(intent) }, `Edit ${intent.id}`),
                  h('button', { type: 'button', class: 'danger', onclick: () => remove(intent.id) }, `Delete ${intent.id}`),
                ),
              ),
            ),
          )
        : h('p', {}, 'No intent: every message goes to the Fallback.'),
    );
  }

  async function reload() {
    const answer = await call('GET', projectPath(project, '/intents'));
    draw(answer.intents);
  }

  function edit(intent) {
    idInput.value = intent.id;
    examples.value = intent.examples.join('\n');
    responses.value = intent.responses.join('\n');
    idInput.focus();
  }

  async function remove(id) {
    if (!confirm(`Delete the intent ${id}?`)) return;
    try {
      await call('DELETE', projectPath(project, `/intents/${seg(id)}`));
      notice(status, 'ok', `Intent ${id} deleted.`);
      await reload();
    } catch (error) {
      notice(status, 'error', error.message);
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const id = idInput.value.trim();
    try {
      await call('PUT', projectPath(project, `/intents/${seg(id)}`), { examples: lines(examples.value), responses: lines(responses.value) });
      notice(status, 'ok', `Intent ${id} saved.`);
      form.reset();
      await reload();
    } catch (error) {
      notice(status, 'error', error.message);
    }
  });

  draw(intents);
  section.append(h('h2', { id: 'intents-title' }, 'Intents'), status, list, form);
  return section;
}

function secretsCard(project, names) {
  const section = h('section', { class: 'card', 'aria-labelledby': 'secrets-title' });
  const list = h('div', { id: 'secret-list' });
  const status = h('p', { id: 'secret-status', role: 'status' });
  const name = h('input', { id: 'secret-name', required: true, autocomplete: 'off' });
  const value = h('input', { id: 'secret-value', type: 'password', required: true, autocomplete: 'new-password' });
  const form = h(
    'form',
    { id: 'secret-form', 'aria-label': 'Set a secret' },
    field('Secret name', name, { hint: 'Used as {secret.NAME} in a webhook\'s URL, headers or body.' }),
    field('Value', value, { hint: 'Write-only: the host never shows it again.' }),
    h('button', { type: 'submit', id: 'secret-save' }, 'Set secret'),
  );

  function draw(items) {
    fill(
      list,
      items.length
        ? h(
            'ul',
            {},
            items.map((secret) =>
              h('li', {}, h('code', {}, secret), ' ', h('button', { type: 'button', class: 'danger', onclick: () => remove(secret) }, `Delete ${secret}`)),
            ),
          )
        : h('p', {}, 'No secret.'),
    );
  }

  async function reload() {
    draw((await call('GET', projectPath(project, '/secrets'))).secrets);
  }

  async function remove(secret) {
    if (!confirm(`Delete the secret ${secret}? Webhooks naming it will fail.`)) return;
    try {
      await call('DELETE', projectPath(project, `/secrets/${seg(secret)}`));
      notice(status, 'ok', `Secret ${secret} deleted.`);
      await reload();
    } catch (error) {
      notice(status, 'error', error.message);
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const secret = name.value.trim();
    try {
      await call('PUT', projectPath(project, `/secrets/${seg(secret)}`), { value: value.value });
      notice(status, 'ok', `Secret ${secret} set.`);
      form.reset();
      await reload();
    } catch (error) {
      notice(status, 'error', error.message);
    }
  });

  draw(names);
  section.append(h('h2', { id: 'secrets-title' }, 'Secrets'), status, list, form);
  return section;
}
