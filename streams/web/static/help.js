// The customer's help screen: queries GET /search as the customer types (debounced), shows help articles with
// their scores and the server's took_ms, and says so when there are no results or the search fails.
"use strict";

const input = document.getElementById("q");
const notice = document.getElementById("notice");
const results = document.getElementById("results");
const DEBOUNCE_MS = 150;
let timer = null;
let latest = 0;

function say(text, isError = false) {
  notice.textContent = text;
  notice.className = isError ? "notice error" : "notice";
}

async function search(query) {
  const asked = ++latest;
  try {
    const response = await fetch(`/search?${new URLSearchParams({q: query, k: "5"})}`);
    const body = await response.json().catch(() => ({}));
    if (asked !== latest) return; // a newer query is on its way
    if (!response.ok) throw new Error(body.error || `the server answered ${response.status}`);
    results.replaceChildren(...body.results.map((hit) => {
      const entry = document.createElement("li");
      entry.className = "result";
      entry.innerHTML = '<span class="score"></span><span class="response-title"></span>';
      entry.querySelector(".score").textContent = hit.score.toFixed(2);
      entry.querySelector(".response-title").textContent = hit.title;
      return entry;
    }));
    say(body.results.length ? `${body.results.length} articles · ${body.took_ms} ms` : `No articles match "${query}".`);
  } catch (error) {
    if (asked !== latest) return;
    results.replaceChildren();
    say(`Search failed: ${error.message}`, true);
  }
}

input.addEventListener("input", () => {
  clearTimeout(timer);
  const query = input.value.trim();
  if (!query) { latest++; results.replaceChildren(); say("Type a question; results appear as you type."); return; }
  timer = setTimeout(() => search(query), DEBOUNCE_MS);
});
