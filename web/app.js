// The reference web inbox for imap-gateway: plain JavaScript, no build step.
// Signs in with POST /v1/auth/token, keeps the token in sessionStorage (gone when the
// tab closes), follows the open mailbox live through EventSource with an event
// ticket, and renders message HTML (already sanitised by the gateway) in a sandboxed
// frame with no script and no access to this page.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  gateway: "",
  token: "",
  mailboxes: [],
  mailbox: "INBOX",
  cursor: null,
  messages: new Map(), // uid -> summary
  current: null, // the message being read
  events: null,
};

// ---- API ---------------------------------------------------------------------

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.token}`, ...(options.headers || {}) };
  let body = options.body;
  if (body !== undefined && typeof body !== "string") {
    body = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(state.gateway + path, { ...options, headers, body });
  if (response.status === 401 && path !== "/v1/auth/token") {
    signOut("Your session has expired; sign in again.");
    throw new Error("signed out");
  }
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new Error(problem.detail || `${response.status} ${response.statusText}`);
  }
  return response.status === 204 ? null : response;
}

const json = async (path, options) => (await api(path, options)).json();
const mailboxPath = (name) => `/v1/mailboxes/${encodeURIComponent(name)}`;

function showError(error) {
  $("error").textContent = error ? String(error.message || error) : "";
}

// ---- Sign in -----------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  state.gateway = form.gateway.value.replace(/\/+$/, "");
  $("signin-error").textContent = "";
  try {
    const response = await fetch(`${state.gateway}/v1/auth/token`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: form.username.value, password: form.password.value }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || response.statusText);
    state.token = body.access_token;
    sessionStorage.setItem("gateway", state.gateway);
    sessionStorage.setItem("token", state.token);
    form.password.value = "";
    await start();
  } catch (error) {
    $("signin-error").textContent = `Sign-in failed: ${error.message}`;
  }
}

function signOut(message) {
  sessionStorage.removeItem("token");
  state.token = "";
  if (state.events) state.events.close();
  $("app").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
}

async function start() {
  $("signin").hidden = true;
  $("app").hidden = false;
  await loadMailboxes();
  await openMailbox(state.mailbox);
}

// ---- Mailboxes ---------------------------------------------------------------

async function loadMailboxes() {
  const list = await json("/v1/mailboxes");
  state.mailboxes = list.items;
  const nav = $("mailboxes");
  nav.replaceChildren();
  const target = $("move-target");
  target.replaceChildren();
  for (const mailbox of list.items) {
    const depth = mailbox.name.split(mailbox.delimiter || "/").length - 1;
    const link = document.createElement("a");
    link.href = "#";
    link.dataset.mailbox = mailbox.name;
    link.style.paddingLeft = `${0.8 + depth}rem`;
    link.classList.toggle("current", mailbox.name === state.mailbox);
    const name = document.createElement("span");
    name.textContent = mailbox.name.split(mailbox.delimiter || "/").pop();
    const count = document.createElement("span");
    count.className = "count";
    count.textContent = mailbox.status && mailbox.status.unseen ? mailbox.status.unseen : "";
    link.append(name, count);
    if (mailbox.selectable) {
      link.addEventListener("click", (e) => {
        e.preventDefault();
        openMailbox(mailbox.name).catch(showError);
      });
      const option = document.createElement("option");
      option.value = mailbox.name;
      option.textContent = mailbox.name;
      target.append(option);
    }
    nav.append(link);
  }
}

function roleMailbox(role) {
  const found = state.mailboxes.find((m) => m.role === role);
  return found ? found.name : null;
}

// ---- Message list ------------------------------------------------------------

async function openMailbox(name) {
  state.mailbox = name;
  state.cursor = null;
  state.messages.clear();
  $("messages").replaceChildren();
  $("reader").hidden = true;
  $("mailbox-name").textContent = name;
  for (const link of $("mailboxes").querySelectorAll("a")) {
    link.classList.toggle("current", link.dataset.mailbox === name);
  }
  await loadPage();
  follow(name).catch(showError);
}

async function loadPage() {
  const query = new URLSearchParams({ limit: "25" });
  if (state.cursor) query.set("cursor", state.cursor);
  const page = await json(`${mailboxPath(state.mailbox)}/messages?${query}`);
  for (const summary of page.items) addRow(summary, false);
  state.cursor = page.next_cursor;
  $("older").hidden = !state.cursor;
}

function rowOf(uid) {
  return $("messages").querySelector(`li[data-uid="${uid}"]`);
}

function addRow(summary, atTop) {
  state.messages.set(summary.uid, summary);
  const row = document.createElement("li");
  row.dataset.uid = summary.uid;
  const from = document.createElement("div");
  from.className = "from";
  const sender = (summary.envelope.from || [])[0];
  from.textContent = sender ? sender.name || sender.address : "";
  const subject = document.createElement("div");
  subject.className = "subject";
  subject.textContent = summary.envelope.subject || "(no subject)";
  row.append(from, subject);
  row.addEventListener("click", () => readMessage(summary.uid).catch(showError));
  if (atTop) $("messages").prepend(row);
  else $("messages").append(row);
  paintFlags(summary.uid, summary.flags);
}

function paintFlags(uid, flags) {
  const summary = state.messages.get(uid);
  if (summary) summary.flags = flags;
  const row = rowOf(uid);
  if (!row) return;
  row.classList.toggle("unseen", !flags.includes("\\Seen"));
  row.classList.toggle("flagged", flags.includes("\\Flagged"));
  if (state.current && state.current.uid === uid) paintActions(flags);
}

function removeRow(uid) {
  state.messages.delete(uid);
  const row = rowOf(uid);
  if (row) row.remove();
  if (state.current && state.current.uid === uid) {
    state.current = null;
    $("reader").hidden = true;
  }
}

// ---- Reading -----------------------------------------------------------------

async function readMessage(uid, remoteImages = false) {
  const query = remoteImages ? "?mark_seen=true&remote_images=true" : "?mark_seen=true";
  const message = await json(`${mailboxPath(state.mailbox)}/messages/${uid}${query}`);
  state.current = message;
  for (const row of $("messages").querySelectorAll("li")) {
    row.classList.toggle("current", row.dataset.uid === String(uid));
  }
  paintFlags(uid, message.flags);
  $("reader").hidden = false;
  $("subject").textContent = message.envelope.subject || "(no subject)";
  const sender = (message.envelope.from || [])[0];
  $("meta").textContent = `${sender ? sender.name || sender.address : ""} · ${message.envelope.date || message.internal_date}`;
  $("images-note").hidden = !message.remote_images_blocked;
  $("body").srcdoc = await renderBody(message);
  const list = $("attachments");
  list.replaceChildren();
  for (const attachment of message.attachments) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.textContent = `⬇ ${attachment.filename || attachment.part} (${attachment.content_type})`;
    button.addEventListener("click", () => download(uid, attachment).catch(showError));
    item.append(button);
    list.append(item);
  }
}

// The frame is sandboxed without scripts or same-origin access, so the message cannot
// reach this page or the token. Images of the message itself (`cid:`, which the
// gateway rewrote to its attachment URLs) need the token: they are fetched here and
// inlined as data URLs.
async function renderBody(message) {
  if (message.html === null || message.html === undefined) {
    const pre = document.createElement("pre");
    pre.textContent = message.text || "";
    pre.style.whiteSpace = "pre-wrap";
    return pre.outerHTML;
  }
  const doc = new DOMParser().parseFromString(message.html, "text/html");
  for (const img of doc.querySelectorAll('img[src^="/v1/"]')) {
    try {
      const blob = await (await api(img.getAttribute("src"))).blob();
      img.src = await new Promise((resolve) => {
        const reader = new FileReader();
        reader.onload = () => resolve(reader.result);
        reader.readAsDataURL(blob);
      });
    } catch (error) {
      img.removeAttribute("src");
    }
  }
  return `<!doctype html><meta charset="utf-8">${doc.body.innerHTML}`;
}

async function download(uid, attachment) {
  const response = await api(`${mailboxPath(state.mailbox)}/messages/${uid}/attachments/${attachment.part}`);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = attachment.filename || `part-${attachment.part}`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---- Changing mail -----------------------------------------------------------

function paintActions(flags) {
  $("toggle-seen").textContent = flags.includes("\\Seen") ? "Mark unread" : "Mark read";
  $("toggle-flagged").textContent = flags.includes("\\Flagged") ? "Unflag" : "Flag";
}

async function toggle(flag) {
  const message = state.current;
  const has = message.flags.includes(flag);
  const changed = await json(`${mailboxPath(state.mailbox)}/messages/${message.uid}/flags`, {
    method: "PATCH",
    body: has ? { remove: [flag] } : { add: [flag] },
  });
  message.flags = changed.flags;
  paintFlags(message.uid, changed.flags);
}

async function moveCurrent() {
  const message = state.current;
  const to = $("move-target").value;
  await api(`${mailboxPath(state.mailbox)}/messages/${message.uid}/move`, {
    method: "POST",
    body: { to },
  });
  removeRow(message.uid);
}

async function deleteCurrent() {
  const message = state.current;
  await api(`${mailboxPath(state.mailbox)}/messages/${message.uid}`, { method: "DELETE" });
  removeRow(message.uid);
}

async function saveDraft(event) {
  event.preventDefault();
  const form = event.target;
  const drafts = roleMailbox("drafts") || "Drafts";
  const to = form.to.value.split(",").map((a) => a.trim()).filter(Boolean);
  $("compose-status").textContent = "Saving…";
  try {
    const saved = await json(`${mailboxPath(drafts)}/messages`, {
      method: "POST",
      body: {
        from: form.from.value,
        to,
        subject: form.subject.value,
        text: form.text.value,
        flags: ["\\Draft", "\\Seen"],
      },
    });
    $("compose-status").textContent = `Draft saved in ${drafts} (UID ${saved.uid}).`;
  } catch (error) {
    $("compose-status").textContent = `Not saved: ${error.message}`;
  }
}

// ---- Live updates ------------------------------------------------------------

// EventSource cannot send the token, so the stream is opened with an event ticket,
// which is good for nothing but this stream. EventSource reconnects by itself, with
// Last-Event-ID, for as long as the ticket (the sign-in) is valid.
async function follow(name) {
  if (state.events) state.events.close();
  $("live").textContent = "○ connecting";
  $("live").classList.remove("on");
  const { ticket } = await json("/v1/events/ticket", { method: "POST" });
  if (state.mailbox !== name) return;
  const query = new URLSearchParams({ mailboxes: name, ticket });
  const events = new EventSource(`${state.gateway}/v1/events?${query}`);
  state.events = events;
  events.addEventListener("stream.ready", () => {
    $("live").textContent = "● live";
    $("live").classList.add("on");
  });
  events.addEventListener("message.created", (e) => {
    const { message } = JSON.parse(e.data);
    if (!state.messages.has(message.uid)) addRow(message, true);
    refreshCounts();
  });
  events.addEventListener("message.updated", (e) => {
    const { uid, flags } = JSON.parse(e.data);
    paintFlags(uid, flags);
    refreshCounts();
  });
  events.addEventListener("message.deleted", (e) => {
    removeRow(JSON.parse(e.data).uid);
    refreshCounts();
  });
  events.addEventListener("mailbox.reset", () => openMailbox(name).catch(showError));
  events.onerror = () => {
    $("live").textContent = "○ reconnecting";
    $("live").classList.remove("on");
  };
}

let countsTimer = null;
function refreshCounts() {
  clearTimeout(countsTimer);
  countsTimer = setTimeout(() => loadMailboxes().catch(showError), 300);
}

// ---- Wiring ------------------------------------------------------------------

function init() {
  const params = new URLSearchParams(location.search);
  const form = $("signin");
  form.gateway.value =
    params.get("gateway") || sessionStorage.getItem("gateway") || "http://127.0.0.1:8080";
  form.addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut());
  $("older").addEventListener("click", () => loadPage().catch(showError));
  $("toggle-seen").addEventListener("click", () => toggle("\\Seen").catch(showError));
  $("toggle-flagged").addEventListener("click", () => toggle("\\Flagged").catch(showError));
  $("move").addEventListener("click", () => moveCurrent().catch(showError));
  $("delete").addEventListener("click", () => deleteCurrent().catch(showError));
  $("load-images").addEventListener("click", () =>
    readMessage(state.current.uid, true).catch(showError));
  $("compose-open").addEventListener("click", () => { $("compose").hidden = false; });
  $("compose-close").addEventListener("click", () => { $("compose").hidden = true; });
  $("compose").addEventListener("submit", saveDraft);
  // The stored token goes back only to the gateway that issued it: a link naming
  // another gateway (`?gateway=`) gets the sign-in form, never this token.
  const token = sessionStorage.getItem("token");
  const issuer = sessionStorage.getItem("gateway");
  if (token && issuer && form.gateway.value.replace(/\/+$/, "") === issuer) {
    state.gateway = issuer;
    state.token = token;
    start().catch(() => signOut());
  }
}

init();
