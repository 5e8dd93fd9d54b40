// DOM building without HTML strings: every text goes in as a text node, so nothing a user, an
// upstream or a plugin wrote can become markup.

/**
 * Creates an element. `attrs`: `class`, `for`, `id`, any attribute (strings), `on<event>`
 * handlers, and the properties `value`, `checked`, `disabled`, `selected`. Children: nodes,
 * strings (as text), arrays, or null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'value' || name === 'checked' || name === 'disabled' || name === 'selected') {
      element[name] = value;
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else if (child instanceof Node) element.appendChild(child);
    else element.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

let counter = 0;
/** A unique id for pairing labels with controls. */
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A labelled control: `<div class="field"><label>…</label>control<p class="error"></p></div>`. */
export function field(label, control, { hint, errorId } = {}) {
  if (!control.id) control.id = uid('f');
  const error = h('p', { class: 'field-error', id: errorId || `${control.id}-error`, role: 'alert' });
  const hintNode = hint ? h('p', { class: 'hint', id: `${control.id}-hint` }, hint) : null;
  const described = [hintNode ? hintNode.id : null, error.id].filter(Boolean).join(' ');
  control.setAttribute('aria-describedby', described);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintNode, error);
}

/** Shows `message` in an error slot (empty clears it) and marks the control it describes. */
export function showError(slot, message) {
  if (!slot) return;
  slot.textContent = message || '';
  const control = slot.parentElement && slot.parentElement.querySelector('input, select, textarea');
  if (control) {
    if (message) control.setAttribute('aria-invalid', 'true');
    else control.removeAttribute('aria-invalid');
  }
}

/** A status line for an action's outcome: `ok` or `error`. */
export function notice(element, kind, message) {
  element.className = `notice ${kind}`;
  element.textContent = message;
}

/** A date from the API (RFC 3339) as local text; the raw value when it does not parse. */
export function when(text) {
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? String(text) : date.toLocaleString();
}

/** Bytes as KiB/MiB text. */
export function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}
