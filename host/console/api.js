// The HTTP API client and the session: the credential lives in sessionStorage (never a cookie),
// and a 401 ends the session and returns to sign-in with a message.

const STORE = 'fallback-console-session';

/** An API answer other than 2xx, with the API's `{"error":{"code","message","details"}}`. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** `{kind: 'project'|'operator', token, project?}` or null. */
export function session() {
  try {
    const value = JSON.parse(sessionStorage.getItem(STORE) || 'null');
    return value && typeof value.token === 'string' ? value : null;
  } catch {
    return null;
  }
}

export function saveSession(value) {
  sessionStorage.setItem(STORE, JSON.stringify(value));
}

let onSignedOut = () => {};

/** Called with a message when the session ends (signed out, or a key refused). */
export function whenSignedOut(callback) {
  onSignedOut = callback;
}

export function signOut(message) {
  sessionStorage.clear();
  onSignedOut(message || '');
}

/** The project a project key belongs to: keys read `fbk_<project>.<secret>`. */
export function keyProject(token) {
  const match = /^fbk_([a-z0-9][a-z0-9_-]{0,63})\./.exec(token);
  return match ? match[1] : null;
}

/** Percent-encodes one path segment. */
export const seg = encodeURIComponent;

/**
 * Calls the API. `body`: a plain value (sent as JSON) or a Blob (sent as is, with
 * `contentType`). Answers the parsed JSON, or null for 204. Throws `ApiError`.
 */
export async function call(method, path, body, { token, contentType } = {}) {
  const credential = token || (session() || {}).token;
  const headers = {};
  if (credential) headers.Authorization = `Bearer ${credential}`;
  let payload;
  if (body instanceof Blob) {
    payload = body;
    headers['Content-Type'] = contentType || 'application/octet-stream';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, credentials: 'omit', cache: 'no-store' });
  } catch (error) {
    throw new ApiError(0, 'network', `The host could not be reached (${error.message}).`);
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (response.ok) return json;
  const error = (json && json.error) || {};
  const failure = new ApiError(
    response.status,
    error.code || `http_${response.status}`,
    error.message || `HTTP ${response.status}`,
    error.details,
  );
  // A stored credential refused: back to sign-in. A token being tried at sign-in is the
  // caller's to report.
  if (response.status === 401 && !token) {
    signOut('Your key or token was refused (wrong, rotated or expired): sign in again.');
  }
  throw failure;
}

/** The project routes' prefix. */
export function projectPath(project, rest = '') {
  return `/v1/projects/${seg(project)}${rest}`;
}
