// The chat tester, like the seed's "Test" panel: a conversation on one send id, replies with
// their quick-reply buttons (a click sends the payload), and the stored history.

import { ApiError, call, projectPath, seg } from './api.js';
import { field, fill, h, notice } from './dom.js';

export async function renderChat(page, project) {
  const sendId = h('input', { id: 'chat-send-id', value: sessionStorage.getItem('fallback-console-send-id') || 'console-tester', autocomplete: 'off' });
  const log = h('ol', { id: 'chat-log', class: 'chat', 'aria-live': 'polite', 'aria-label': 'Conversation' });
  const message = h('input', { id: 'chat-message', autocomplete: 'off', required: true });
  const status = h('p', { id: 'chat-status', role: 'status' });

  function userBubble(text) {
    return h('li', { class: 'bubble user' }, h('span', { class: 'who' }, 'You'), h('p', { class: 'text' }, text));
  }

  function botBubbles(replies, meta) {
    return replies.map((reply) =>
      h(
        'li',
        { class: 'bubble bot' },
        h('span', { class: 'who' }, `Bot${meta ? ` (${meta})` : ''}`),
        h('p', { class: 'text' }, reply.text),
        reply.buttons && reply.buttons.length
          ? h(
              'div',
              { class: 'quick-replies', role: 'group', 'aria-label': 'Quick replies' },
              reply.buttons.map((button) =>
                h('button', { type: 'button', class: 'quick-reply', 'data-payload': button.payload, onclick: () => send(button.payload) }, button.label),
              ),
            )
          : null,
      ),
    );
  }

  function describe(answer) {
    const confidence = answer.confidence == null ? '' : ` (confidence ${answer.confidence.toFixed(2)})`;
    return answer.intent
      ? `intent ${answer.intent}${confidence}`
      : answer.fallback
        ? `fallback, ${answer.outcome}${confidence}`
        : answer.outcome;
  }

  // A history load still in flight must not wipe what was sent since it started.
  let generation = 0;

  async function send(text) {
    if (!text.trim()) return;
    generation += 1;
    const id = sendId.value.trim();
    status.textContent = '';
    log.append(userBubble(text));
    try {
      const answer = await call('POST', projectPath(project, '/chat'), { send_id: id, message: text });
      const bubbles = botBubbles(answer.replies, describe(answer));
      if (!bubbles.length) bubbles.push(h('li', { class: 'bubble bot muted' }, 'No answer (no intent matched and no Fallback is set).'));
      log.append(...bubbles);
    } catch (error) {
      notice(status, 'error', error.message);
    }
    log.lastElementChild && log.lastElementChild.scrollIntoView({ block: 'nearest' });
  }

  async function history() {
    const id = sendId.value.trim();
    sessionStorage.setItem('fallback-console-send-id', id);
    status.textContent = '';
    generation += 1;
    const mine = generation;
    try {
      const conversation = await call('GET', projectPath(project, `/conversations/${seg(id)}`));
      if (mine !== generation) return;
      fill(log, conversation.turns.map((turn) => [userBubble(turn.message), botBubbles(Array.isArray(turn.replies) ? turn.replies : [], describe(turn))]));
    } catch (error) {
      if (mine !== generation) return;
      fill(log);
      if (error instanceof ApiError && error.status === 404) notice(status, 'info', `No conversation yet on ${id}.`);
      else notice(status, 'error', error.message);
    }
  }

  const form = h(
    'form',
    { id: 'chat-form', class: 'compose', 'aria-label': 'Send a message' },
    field('Message', message),
    h('button', { type: 'submit', id: 'chat-send' }, 'Send'),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = message.value;
    message.value = '';
    await send(text);
    message.focus();
  });
  const conversation = h(
    'form',
    { id: 'chat-conversation', class: 'compose', 'aria-label': 'Conversation' },
    field('Send id', sendId, { hint: 'A channel\'s user or conversation id: each keeps its own history.' }),
    h('button', { type: 'submit', id: 'chat-history' }, 'Load history'),
  );
  conversation.addEventListener('submit', (event) => {
    event.preventDefault();
    history();
  });

  page.append(h('h1', {}, `Chat tester: ${project}`), h('section', { class: 'card chat-card' }, conversation, status, log, form));
  await history();
  message.focus();
}
