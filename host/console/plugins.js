// A webhook's plugin panel: upload a .wasm (file picker or drag and drop), the versions with
// size, sha256 and date, activate an older one, detach; the API's own words on a refusal.

import { call, projectPath, seg } from './api.js';
import { fill, h, notice, size, when } from './dom.js';

export async function pluginPanel(project, webhook) {
  const base = projectPath(project, `/webhooks/${seg(webhook)}/plugin`);
  const status = h('p', { id: 'plugin-status', role: 'status', 'aria-live': 'polite' });
  const list = h('div', { id: 'plugin-versions', class: 'table-wrap' });
  const picker = h('input', { type: 'file', id: 'plugin-file', accept: '.wasm,application/wasm' });
  const drop = h(
    'div',
    { class: 'drop', id: 'plugin-drop' },
    h('label', { for: 'plugin-file' }, 'Upload a plugin (.wasm component)'),
    picker,
    h('p', { class: 'hint' }, 'Or drop the file here. The host checks and compiles it before it is stored.'),
  );

  function draw(answer) {
    const versions = [...answer.versions].reverse();
    fill(
      list,
      versions.length
        ? h(
            'table',
            {},
            h('caption', {}, answer.active ? `Active: version ${answer.active}` : 'No active version (detached): the declarative mapping runs.'),
            h('thead', {}, h('tr', {}, ['Version', 'Size', 'sha256', 'Uploaded', 'State'].map((t) => h('th', { scope: 'col' }, t)))),
            h(
              'tbody',
              {},
              versions.map((v) =>
                h(
                  'tr',
                  { 'data-version': String(v.version), class: v.version === answer.active ? 'active' : null },
                  h('td', {}, String(v.version)),
                  h('td', {}, size(v.size)),
                  h('td', {}, h('code', { class: 'sha' }, v.sha256)),
                  h('td', {}, when(v.uploaded_at)),
                  h(
                    'td',
                    {},
                    v.version === answer.active
                      ? h('strong', {}, 'active')
                      : h('button', { type: 'button', class: 'activate', id: `activate-${v.version}`, onclick: () => activate(v.version) }, `Activate version ${v.version}`),
                  ),
                ),
              ),
            ),
          )
        : h('p', {}, 'No plugin: the declarative mapping and templates answer.'),
      answer.active ? h('button', { type: 'button', class: 'danger', id: 'plugin-detach', onclick: detach }, 'Detach the plugin') : null,
    );
  }

  async function reload() {
    draw(await call('GET', base));
  }

  async function upload(file) {
    if (!file) return;
    notice(status, 'info', `Uploading ${file.name} (${size(file.size)})…`);
    try {
      const answer = await call('PUT', base, file, { contentType: 'application/wasm' });
      notice(status, 'ok', `Version ${answer.version} uploaded and active (${size(answer.size)}).`);
      await reload();
    } catch (error) {
      notice(status, 'error', `Upload refused (${error.code}): ${error.message}`);
    } finally {
      picker.value = '';
    }
  }

  async function activate(version) {
    try {
      draw(await call('POST', `${base}/rollback`, { version }));
      notice(status, 'ok', `Version ${version} is active.`);
    } catch (error) {
      notice(status, 'error', error.message);
    }
  }

  async function detach() {
    if (!confirm('Detach the plugin? Its versions stay listed; the declarative mapping answers again.')) return;
    try {
      await call('DELETE', base);
      notice(status, 'ok', 'Plugin detached.');
      await reload();
    } catch (error) {
      notice(status, 'error', error.message);
    }
  }

  picker.addEventListener('change', () => upload(picker.files[0]));
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    upload(event.dataTransfer.files[0]);
  });

  const section = h('section', { class: 'card', id: 'plugin-panel', 'aria-labelledby': 'plugin-title' }, h('h2', { id: 'plugin-title' }, 'Plugin'), drop, status, list);
  try {
    await reload();
  } catch (error) {
    notice(status, 'error', error.message);
  }
  return section;
}
