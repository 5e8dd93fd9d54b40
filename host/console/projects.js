// The operator's project list: create a project (its key shown once), rotate a key, delete.

import { call, projectPath, seg } from './api.js';
import { field, fill, h, notice, when } from './dom.js';

export async function renderProjects(page) {
  const status = h('p', { id: 'projects-status', role: 'status' });
  const keyBox = h('div', { id: 'key-box', 'aria-live': 'polite' });
  const table = h('div', { class: 'table-wrap' });

  /** A new key, shown once: the host keeps only its hash. */
  function showKey(project, key) {
    fill(
      keyBox,
      h(
        'div',
        { class: 'notice ok key' },
        h('p', {}, `The key of project ${project} (shown once: copy it now, the host keeps only its hash):`),
        h('code', { id: 'new-key' }, key),
      ),
    );
  }

  async function load() {
    const { projects } = await call('GET', '/v1/projects');
    const rows = projects.map((project) =>
      h(
        'tr',
        { 'data-project': project.id },
        h('td', {}, h('a', { href: `#/p/${seg(project.id)}` }, project.id)),
        h('td', {}, project.name),
        h('td', {}, when(project.created_at)),
        h(
          'td',
          { class: 'actions' },
          h('button', { type: 'button', class: 'rotate', onclick: () => rotate(project.id) }, `Rotate key of ${project.id}`),
          h('button', { type: 'button', class: 'danger delete', onclick: () => remove(project.id) }, `Delete ${project.id}`),
        ),
      ),
    );
    fill(
      table,
      projects.length
        ? h(
            'table',
            { id: 'project-list' },
            h('caption', {}, 'Projects'),
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Id'), h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Created'), h('th', { scope: 'col' }, 'Actions'))),
            h('tbody', {}, rows),
          )
        : h('p', {}, 'No project yet.'),
    );
  }

  async function rotate(project) {
    if (!confirm(`Rotate the key of ${project}? The current key stops working at once.`)) return;
    try {
      const answer = await call('POST', projectPath(project, '/key'));
      showKey(project, answer.api_key);
      notice(status, 'ok', `Key of ${project} rotated.`);
    } catch (error) {
      notice(status, 'error', error.message);
    }
  }

  async function remove(project) {
    if (!confirm(`Delete project ${project} with its intents, webhooks, plugins and conversations?`)) return;
    try {
      await call('DELETE', projectPath(project));
      notice(status, 'ok', `Project ${project} deleted.`);
      await load();
    } catch (error) {
      notice(status, 'error', error.message);
    }
  }

  const idInput = h('input', { id: 'new-project-id', required: true, pattern: '[a-z0-9][a-z0-9_\\-]{0,63}', autocomplete: 'off' });
  const nameInput = h('input', { id: 'new-project-name', required: true, maxlength: '200', autocomplete: 'off' });
  const form = h(
    'form',
    { class: 'card', id: 'create-project', 'aria-labelledby': 'create-project-title' },
    h('h2', { id: 'create-project-title' }, 'New project'),
    field('Project id', idInput, { hint: 'Lowercase letters, digits, - and _.' }),
    field('Name', nameInput),
    h('button', { type: 'submit', id: 'create-project-submit' }, 'Create project'),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const project = await call('POST', '/v1/projects', { id: idInput.value.trim(), name: nameInput.value.trim() });
      showKey(project.id, project.api_key);
      notice(status, 'ok', `Project ${project.id} created.`);
      form.reset();
      await load();
    } catch (error) {
      notice(status, 'error', error.message);
    }
  });

  page.append(h('h1', {}, 'Projects'), status, keyBox, table, form);
  await load();
}
