// Sign-in: with a project key (the project's pages) or the operator's token (the project list);
// the credential is checked against the API before it is kept for this browser tab.

import { call, keyProject, projectPath, saveSession } from './api.js';
import { field, h, notice } from './dom.js';
import { go } from './app.js';

export function renderSignIn(page) {
  const keyInput = h('input', { type: 'password', id: 'signin-key', autocomplete: 'off', required: true, spellcheck: 'false' });
  const keyStatus = h('p', { id: 'signin-key-status', role: 'alert' });
  const keyForm = h(
    'form',
    { class: 'card', id: 'signin-project', 'aria-labelledby': 'signin-project-title' },
    h('h2', { id: 'signin-project-title' }, 'Bot builder: sign in with a project key'),
    field('Project key', keyInput, { hint: 'Starts with fbk_. Kept in this tab only (sessionStorage).' }),
    h('button', { type: 'submit', id: 'signin-key-submit' }, 'Sign in'),
    keyStatus,
  );
  keyForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = keyInput.value.trim();
    const project = keyProject(token);
    if (!project) {
      notice(keyStatus, 'error', 'That is not a project key: it starts with fbk_<project>.');
      return;
    }
    try {
      await call('GET', projectPath(project), undefined, { token });
    } catch (error) {
      notice(keyStatus, 'error', error.status === 401 ? 'This key is not valid (wrong, rotated or deleted).' : error.message);
      return;
    }
    saveSession({ kind: 'project', token, project });
    go(`#/p/${project}`);
  });

  const tokenInput = h('input', { type: 'password', id: 'signin-token', autocomplete: 'off', required: true, spellcheck: 'false' });
  const tokenStatus = h('p', { id: 'signin-token-status', role: 'alert' });
  const tokenForm = h(
    'form',
    { class: 'card', id: 'signin-operator', 'aria-labelledby': 'signin-operator-title' },
    h('h2', { id: 'signin-operator-title' }, 'Operator: sign in with the admin token'),
    field('Admin token', tokenInput, { hint: 'FALLBACK_ADMIN_TOKEN, or data/admin_token.' }),
    h('button', { type: 'submit', id: 'signin-token-submit' }, 'Sign in as operator'),
    tokenStatus,
  );
  tokenForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    const token = tokenInput.value.trim();
    try {
      await call('GET', '/v1/projects', undefined, { token });
    } catch (error) {
      notice(tokenStatus, 'error', error.status === 401 ? 'This token is not the operator\'s.' : error.message);
      return;
    }
    saveSession({ kind: 'operator', token });
    go('#/projects');
  });

  page.append(h('h1', {}, 'Sign in'), h('div', { class: 'columns' }, keyForm, tokenForm));
  keyInput.focus();
}
