// The webhook editor, mirroring the seed's form: request (method, URL with one-click variables,
// headers, body), response processing (JSONPath → variable rows, templates), timeout and retries;
// each 422 field error is shown next to its field. Below it: the plugin panel and the test console.

import { call, projectPath, seg } from './api.js';
import { field, h, notice, showError } from './dom.js';
import { go } from './app.js';
import { pluginPanel } from './plugins.js';
import { testConsole } from './trace.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
const DEFAULT_SPEC = {
  method: 'GET',
  url: '',
  headers: {},
  body: null,
  retries: 0,
  response: { extract: {}, success: '{reply}', failure: "Sorry, I can't answer that right now." },
  plugin_config: {},
};

/** Where an API field error is shown: the slot of the control it names. */
function slotOf(fieldPath) {
  const simple = ['method', 'url', 'timeout_ms', 'retries', 'plugin_config'];
  if (simple.includes(fieldPath)) return fieldPath;
  if (fieldPath.startsWith('headers')) return 'headers';
  if (fieldPath.startsWith('body')) return 'body';
  if (fieldPath.startsWith('response.extract')) return 'extract';
  if (fieldPath.startsWith('response.variables')) return 'variables';
  if (fieldPath === 'response.success') return 'success';
  if (fieldPath === 'response.failure') return 'failure';
  return 'general';
}

export async function renderWebhook(page, project, webhookId) {
  const [spec, secretList] = await Promise.all([
    webhookId ? call('GET', projectPath(project, `/webhooks/${seg(webhookId)}`)) : Promise.resolve(structuredClone(DEFAULT_SPEC)),
    call('GET', projectPath(project, '/secrets')),
  ]);
  const slot = (slotName) => ({ errorId: `err-${slotName}` });

  const name = h('input', { id: 'wh-name', required: true, autocomplete: 'off', value: webhookId || '', disabled: Boolean(webhookId) });
  const method = h('select', { id: 'wh-method' }, METHODS.map((m) => h('option', { value: m, selected: spec.method === m }, m)));
  const url = h('input', { id: 'wh-url', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', value: spec.url || '' });

  // One-click insertion of a variable at the URL's caret.
  const insert = (text) => {
    const start = url.selectionStart ?? url.value.length;
    const end = url.selectionEnd ?? url.value.length;
    url.setRangeText(text, start, end, 'end');
    url.focus();
  };
  const secretName = h('select', { id: 'insert-secret-name', 'aria-label': 'Secret to insert' }, secretList.secrets.map((s) => h('option', { value: s }, s)));
  const inserts = h(
    'div',
    { class: 'inserts', role: 'group', 'aria-label': 'Insert a variable into the URL' },
    h('button', { type: 'button', id: 'insert-latest-message', onclick: () => insert('{latest_message}') }, 'Insert {latest_message}'),
    h('button', { type: 'button', id: 'insert-send-id', onclick: () => insert('{send_id}') }, 'Insert {send_id}'),
    secretList.secrets.length
      ? [secretName, h('button', { type: 'button', id: 'insert-secret', onclick: () => insert(`{secret.${secretName.value}}`) }, 'Insert {secret.…}')]
      : h('span', { class: 'hint' }, 'Set a secret on the overview to insert {secret.NAME}.'),
  );

  // Headers: rows of name and value template.
  const headerRows = h('div', { id: 'wh-headers', class: 'rows' });
  const addHeader = (headerName = '', value = '') => {
    const n = h('input', { class: 'header-name', 'aria-label': 'Header name', value: headerName, autocomplete: 'off' });
    const v = h('input', { class: 'header-value', 'aria-label': 'Header value', value, autocomplete: 'off' });
    const row = h('div', { class: 'row' }, n, v, h('button', { type: 'button', class: 'remove', 'aria-label': 'Remove this header', onclick: () => row.remove() }, '✕'));
    headerRows.append(row);
    return n;
  };
  for (const [headerName, value] of Object.entries(spec.headers || {})) addHeader(headerName, value);

  // Body.
  const bodyType = h(
    'select',
    { id: 'wh-body-type' },
    ['none', 'json', 'text', 'form'].map((t) => h('option', { value: t, selected: (spec.body ? spec.body.type : 'none') === t }, t)),
  );
  const bodyContent = h('textarea', {
    id: 'wh-body-content',
    rows: '4',
    spellcheck: 'false',
    value: spec.body ? (spec.body.type === 'text' ? String(spec.body.content) : JSON.stringify(spec.body.content, null, 2)) : '',
  });

  // Response processing: rows of JSONPath → variable.
  const extractRows = h('div', { id: 'wh-extract', class: 'rows' });
  const addExtract = (path = '', variable = '') => {
    const p = h('input', { class: 'extract-path', 'aria-label': 'JSONPath', placeholder: '$.message', value: path, autocomplete: 'off', spellcheck: 'false' });
    const v = h('input', { class: 'extract-var', 'aria-label': 'Variable', placeholder: 'reply', value: variable, autocomplete: 'off', spellcheck: 'false' });
    const row = h('div', { class: 'row' }, p, h('span', { 'aria-hidden': 'true' }, '→'), v, h('button', { type: 'button', class: 'remove', 'aria-label': 'Remove this row', onclick: () => row.remove() }, '✕'));
    extractRows.append(row);
    return p;
  };
  for (const [variable, path] of Object.entries((spec.response && spec.response.extract) || {})) addExtract(path, variable);

  const variables = h('input', { id: 'wh-variables', autocomplete: 'off', value: ((spec.response && spec.response.variables) || []).join(', ') });
  const success = h('input', { id: 'wh-success', autocomplete: 'off', value: spec.response ? spec.response.success : '{reply}' });
  const failure = h('input', { id: 'wh-failure', autocomplete: 'off', value: spec.response ? spec.response.failure : '' });
  const timeout = h('input', { id: 'wh-timeout', type: 'number', min: '1', step: '1', value: spec.timeout_ms === undefined || spec.timeout_ms === null ? '' : String(spec.timeout_ms) });
  const retries = h('input', { id: 'wh-retries', type: 'number', min: '0', step: '1', value: String(spec.retries || 0) });
  const pluginConfig = h('textarea', { id: 'wh-plugin-config', rows: '2', spellcheck: 'false', value: JSON.stringify(spec.plugin_config || {}) });
  const general = h('p', { id: 'err-general', class: 'field-error', role: 'alert' });
  const status = h('p', { id: 'wh-status', role: 'status' });

  const form = h(
    'form',
    { class: 'card editor', id: 'webhook-form', novalidate: true, 'aria-labelledby': 'webhook-title' },
    h('h2', { id: 'webhook-title' }, webhookId ? `Webhook ${webhookId}` : 'New webhook'),
    h(
      'fieldset',
      {},
      h('legend', {}, 'Request'),
      field('Name', name, { ...slot('name'), hint: 'Lowercase letters, digits, - and _.' }),
      field('Method', method, slot('method')),
      field('URL', url, { ...slot('url'), hint: 'Scheme and host are literal; the rest may use {latest_message}, {send_id}, {project}, {secret.NAME}.' }),
      inserts,
      h('div', { class: 'field' }, h('span', { class: 'label', id: 'headers-label' }, 'Headers'), headerRows, h('button', { type: 'button', id: 'add-header', onclick: () => addHeader().focus() }, 'Add header'), h('p', { class: 'field-error', id: 'err-headers', role: 'alert' })),
      field('Body type', bodyType),
      field('Body content', bodyContent, { ...slot('body'), hint: 'json: a JSON value whose strings are templates; form: a JSON object of templates; text: a template.' }),
    ),
    h(
      'fieldset',
      {},
      h('legend', {}, 'Response processing'),
      h('div', { class: 'field' }, h('span', { class: 'label' }, 'JSONPath → variable'), extractRows, h('button', { type: 'button', id: 'add-extract', onclick: () => addExtract().focus() }, 'Add row'), h('p', { class: 'field-error', id: 'err-extract', role: 'alert' })),
      field('Variables a plugin provides (comma-separated)', variables, slot('variables')),
      field('Success answer', success, { ...slot('success'), hint: 'A template over the variables, e.g. {reply}.' }),
      field('Failure text', failure, { ...slot('failure'), hint: 'Shown when the call or the processing fails.' }),
    ),
    h(
      'fieldset',
      {},
      h('legend', {}, 'Delivery'),
      field('Timeout (ms)', timeout, { ...slot('timeout_ms'), hint: 'Blank: the operator\'s default.' }),
      field('Retries', retries, slot('retries')),
      field('Plugin config (JSON object)', pluginConfig, slot('plugin_config')),
    ),
    general,
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'wh-save' }, 'Save webhook'), webhookId ? h('button', { type: 'button', class: 'danger', id: 'wh-delete', onclick: remove }, 'Delete webhook') : null),
    status,
  );

  function clearErrors() {
    for (const node of form.querySelectorAll('.field-error')) showError(node, '');
  }

  function showFieldError(slotName, message) {
    const node = document.getElementById(`err-${slotName}`) || general;
    const text = node.textContent ? `${node.textContent} ${message}` : message;
    showError(node, text);
  }

  /** The spec from the form, or null after showing what cannot be read. */
  function read() {
    let ok = true;
    const headers = {};
    for (const row of headerRows.querySelectorAll('.row')) {
      const key = row.querySelector('.header-name').value.trim();
      if (key) headers[key] = row.querySelector('.header-value').value;
    }
    let body = null;
    if (bodyType.value !== 'none') {
      if (bodyType.value === 'text') {
        body = { type: 'text', content: bodyContent.value };
      } else {
        try {
          body = { type: bodyType.value, content: JSON.parse(bodyContent.value || 'null') };
        } catch (error) {
          showFieldError('body', `body.content: not JSON (${error.message})`);
          ok = false;
        }
      }
    }
    const extract = {};
    for (const row of extractRows.querySelectorAll('.row')) {
      const variable = row.querySelector('.extract-var').value.trim();
      const path = row.querySelector('.extract-path').value.trim();
      if (variable || path) extract[variable] = path;
    }
    let config = {};
    try {
      config = JSON.parse(pluginConfig.value.trim() || '{}');
    } catch (error) {
      showFieldError('plugin_config', `plugin_config: not JSON (${error.message})`);
      ok = false;
    }
    const out = {
      method: method.value,
      url: url.value,
      headers,
      body,
      retries: Number(retries.value || 0),
      response: {
        extract,
        variables: variables.value.split(',').map((v) => v.trim()).filter(Boolean),
        success: success.value,
        failure: failure.value,
      },
      plugin_config: config,
    };
    if (timeout.value.trim() !== '') out.timeout_ms = Number(timeout.value);
    if (spec.limits) out.limits = spec.limits;
    return ok ? out : null;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors();
    status.textContent = '';
    const id = name.value.trim();
    if (!id) {
      showFieldError('name', 'A name is needed.');
      return;
    }
    const body = read();
    if (!body) {
      notice(status, 'error', 'Not saved: see the fields marked above.');
      return;
    }
    try {
      await call('PUT', projectPath(project, `/webhooks/${seg(id)}`), body);
    } catch (error) {
      if (Array.isArray(error.details)) {
        for (const problem of error.details) showFieldError(slotOf(String(problem.field)), `${problem.field}: ${problem.message}`);
      } else if (error.code === 'invalid_id') {
        showFieldError('name', error.message);
      } else {
        showFieldError('general', error.message);
      }
      notice(status, 'error', 'Not saved: see the fields marked above.');
      const first = form.querySelector('[aria-invalid="true"]');
      if (first) first.focus();
      return;
    }
    if (!webhookId) {
      go(`#/p/${seg(project)}/webhooks/${seg(id)}`);
      return;
    }
    notice(status, 'ok', `Webhook ${id} saved.`);
  });

  async function remove() {
    if (!confirm(`Delete the webhook ${webhookId} and its plugin versions?`)) return;
    try {
      await call('DELETE', projectPath(project, `/webhooks/${seg(webhookId)}`));
      go(`#/p/${seg(project)}`);
    } catch (error) {
      notice(status, 'error', error.message);
    }
  }

  page.append(h('p', {}, h('a', { href: `#/p/${seg(project)}` }, `← Project ${project}`)), form);
  if (webhookId) {
    page.append(await pluginPanel(project, webhookId), testConsole(project, webhookId));
  } else {
    page.append(h('p', { class: 'hint' }, 'Save the webhook to attach a plugin and try it in the test console.'));
  }
}
