// The console's entry: a hash router that draws one page into <main> and the navigation.

import { session, signOut, whenSignedOut } from './api.js';
import { fill, h } from './dom.js';
import { renderSignIn } from './signin.js';
import { renderProjects } from './projects.js';
import { renderOverview } from './overview.js';
import { renderWebhook } from './webhook.js';
import { renderChat } from './chat.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const flashArea = document.getElementById('flash');

/** A message shown above the page until the next navigation. */
export function flash(message, kind = 'info') {
  if (!message) {
    flashArea.replaceChildren();
    return;
  }
  fill(flashArea, h('p', { class: `notice ${kind}`, id: 'flash-message' }, message));
}

whenSignedOut((message) => {
  pendingFlash = message ? { message, kind: 'error' } : null;
  if (location.hash === '#/signin') route();
  else location.hash = '#/signin';
});

let pendingFlash = null;

function drawNav(current) {
  const who = session();
  if (!who) {
    nav.replaceChildren();
    return;
  }
  const link = (href, text) =>
    h('a', { href, 'aria-current': current === href ? 'page' : null }, text);
  const project = who.kind === 'project' ? who.project : currentProject();
  fill(
    nav,
    who.kind === 'operator' ? link('#/projects', 'Projects') : null,
    project ? link(`#/p/${project}`, `Project ${project}`) : null,
    project ? link(`#/p/${project}/chat`, 'Chat tester') : null,
    h('button', { type: 'button', id: 'sign-out', class: 'link', onclick: () => signOut('Signed out.') }, 'Sign out'),
  );
}

function currentProject() {
  const match = /^#\/p\/([^/]+)/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

async function route() {
  const hash = location.hash || '#/';
  const who = session();
  flash(pendingFlash && pendingFlash.message, pendingFlash && pendingFlash.kind);
  pendingFlash = null;
  drawNav(hash);
  const page = h('div', { class: 'page' });
  fill(main, page);
  if (!who || hash === '#/signin') {
    if (hash !== '#/signin' && hash !== '#/') {
      location.hash = '#/signin';
      return;
    }
    drawNav('');
    return renderSignIn(page);
  }
  const parts = hash.slice(2).split('/').map(decodeURIComponent);
  try {
    if (parts[0] === '' || parts[0] === 'projects') {
      if (who.kind === 'operator') return await renderProjects(page);
      location.hash = `#/p/${who.project}`;
      return;
    }
    if (parts[0] === 'p' && parts[1]) {
      const project = parts[1];
      if (parts[2] === 'chat') return await renderChat(page, project);
      if (parts[2] === 'webhooks' && parts[3]) return await renderWebhook(page, project, parts[3] === 'new' ? null : parts[3]);
      return await renderOverview(page, project);
    }
    fill(page, h('h1', {}, 'Not found'), h('p', {}, 'No such page in the console.'));
  } catch (error) {
    if (error.status === 401) return;
    fill(page, h('h1', {}, 'Something went wrong'), h('p', { class: 'notice error' }, error.message));
  }
}

/** Navigates within the console, redrawing even when the address stays the same. */
export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

window.addEventListener('hashchange', () => {
  route();
  main.focus({ preventScroll: true });
});
route();
