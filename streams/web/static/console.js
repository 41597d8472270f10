// The agent console: live chats and their recommended saved responses, pushed by the worker over Server-Sent
// Events (GET /console/events); a click publishes a recommendation.feedback event (POST /console/feedback) with
// the session's CSRF token (GET /console/whoami). When no recommendation fits, the agent searches the saved
// responses (GET /search) and uses one from there: feedback with source "search", the miss the models learn from.
"use strict";

const chats = document.getElementById("chats");
const statusLine = document.getElementById("status");
const cards = new Map();
const whoami = fetch("/console/whoami").then((response) => response.json()).then((me) => {
  document.getElementById("agent").textContent = me.name;
  if (me.sign_out) document.getElementById("sign-out").hidden = false;
  return me;
});

function card(chatId) {
  let element = cards.get(chatId);
  if (!element) {
    element = document.createElement("article");
    element.className = "card chat";
    element.dataset.chatId = chatId;
    element.innerHTML = '<div class="meta"><span class="chat-id"></span><span class="when"></span></div>' +
      '<div class="message"></div><ol class="responses"><li class="pending">waiting for recommendations…</li></ol>' +
      '<form class="find" role="search"><input type="search" name="q" maxlength="1000" ' +
      'placeholder="None fits? Search saved responses" aria-label="search saved responses"><button>Search</button>' +
      '</form><ol class="responses found"></ol><p class="found-used" hidden></p>';
    element.querySelector(".chat-id").textContent = chatId;
    element.querySelector("form.find").addEventListener("submit", (event) => {
      event.preventDefault();
      find(chatId, element, event.target.q.value);
    });
    cards.set(chatId, element);
    document.getElementById("empty")?.remove();
    chats.prepend(element);
  }
  return element;
}

function show(chat) {
  const element = card(chat.chat_id);
  if (chat.text) element.querySelector(".message").textContent = chat.text;
  if (chat.created_at) element.querySelector(".when").textContent = new Date(chat.created_at).toLocaleTimeString();
  if (!chat.items) return;
  const list = element.querySelector(".responses");
  list.replaceChildren();
  chat.items.forEach((item, index) => {
    const button = responseButton(list, item, item.preview || "");
    if (chat.used === item.content_id) button.classList.add("used");
    button.addEventListener("click", () => use(chat.chat_id, item.content_id, index + 1, button));
  });
  if (chat.used && !chat.items.some((item) => item.content_id === chat.used)) {
    const line = element.querySelector(".found-used");
    line.textContent = `used, found by search: ${foundTitles.get(chat.used) || chat.used}`;
    line.hidden = false;
  }
  if (chat.latency_ms !== undefined) {
    element.querySelector(".when").textContent += ` · ${chat.latency_ms} ms`;
  }
}

const foundTitles = new Map();

// A saved response as a button in `list`: its score (none on an interleaved chat), its title and, for a
// recommendation, a preview of its body.
function responseButton(list, item, preview) {
  const entry = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "response";
  button.dataset.contentId = item.content_id;
  button.innerHTML = '<span class="score"></span><span class="response-title"></span>';
  button.querySelector(".score").textContent = typeof item.score === "number" ? item.score.toFixed(2) : "";
  button.querySelector(".response-title").textContent = item.title;
  if (preview !== null) {
    const shown = document.createElement("span");
    shown.className = "preview";
    shown.textContent = preview;
    button.append(shown);
  }
  entry.append(button);
  list.append(entry);
  return button;
}

async function find(chatId, element, q) {
  const list = element.querySelector("ol.found");
  try {
    const query = new URLSearchParams({q: q, kind: "saved_response", k: "5"});
    const response = await fetch(`/search?${query}`);
    const body = await response.json();
    if (!response.ok) throw new Error(`${response.status} ${body.error || ""}`);
    list.replaceChildren();
    body.results.forEach((result) => {
      foundTitles.set(result.content_id, result.title);
      const button = responseButton(list, result, null);
      button.addEventListener("click", () => use(chatId, result.content_id, null, button));
    });
  } catch (error) {
    statusLine.textContent = `search failed: ${error.message}`;
    statusLine.className = "status down";
  }
}

async function use(chatId, contentId, rank, button) {
  try {
    const me = await whoami;
    const choice = rank === null ? {source: "search"} : {source: "recommended", rank: rank};
    const response = await fetch("/console/feedback", {
      method: "POST",
      headers: {"content-type": "application/json", ...(me.csrf ? {"X-CSRF-Token": me.csrf} : {})},
      body: JSON.stringify({chat_id: chatId, content_id: contentId, action: "used", ...choice}),
    });
    if (!response.ok) throw new Error(`${response.status} ${(await response.json()).error || ""}`);
    button.closest("article").querySelectorAll("ol button").forEach((b) => b.classList.remove("used"));
    button.classList.add("used");
  } catch (error) {
    statusLine.textContent = `could not record feedback: ${error.message}`;
    statusLine.className = "status down";
  }
}

const events = new EventSource("/console/events");
events.addEventListener("open", () => { statusLine.textContent = "live"; statusLine.className = "status live"; });
events.addEventListener("error", () => { statusLine.textContent = "reconnecting…"; statusLine.className = "status down"; });
events.addEventListener("chat", (event) => show(JSON.parse(event.data)));
