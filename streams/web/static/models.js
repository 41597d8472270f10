// The models page: polls GET /models (the registry and the group's figures per model) and shows one card per
// model, the active one first, so a candidate is read beside what it would replace.
"use strict";

const models = document.getElementById("models");
const statusLine = document.getElementById("status");
const history = document.getElementById("history");

function fmt(value, digits = 3, suffix = "") {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return (Number.isInteger(value) ? String(value) : value.toFixed(digits)) + suffix;
  return String(value);
}

function row(list, name, value, state) {
  const dt = document.createElement("dt");
  dt.textContent = name;
  const dd = document.createElement("dd");
  dd.textContent = value;
  if (state) dd.className = state;
  list.append(dt, dd);
}

function render(report) {
  models.replaceChildren();
  const budget = report.budget.chat_p99_ms;
  for (const m of report.models) {
    const card = document.createElement("article");
    card.className = "card model " + m.role;
    card.dataset.modelId = m.model_id;
    const title = document.createElement("h2");
    title.innerHTML = '<span class="role"></span> <span class="model-id"></span>';
    title.querySelector(".role").textContent = m.role;
    title.querySelector(".model-id").textContent = m.model_id;
    const facts = document.createElement("dl");
    const covered = m.coverage === 1 && m.covered_everywhere;
    row(facts, "coverage", fmt(m.coverage === undefined ? null : m.coverage * 100, 1, "%") +
      ` (${fmt(m.items)} of ${fmt(m.table_items)} items, ${fmt(m.loaded)} of ${report.workers.length} workers)`,
      covered ? "ok" : "warn");
    row(facts, "answering on", `${fmt(m.answering_workers)} of ${report.workers.length} workers`);
    if (m.role !== "active") {
      row(facts, "agreement", `top-1 ${fmt(m.top1_agreement)}, top-3 overlap ${fmt(m.top3_overlap)}`);
    }
    row(facts, "chats scored", `${fmt(m.scored)}` + (m.shed ? `, ${m.shed} shed` : ""));
    row(facts, "model calls p50 / p99", `${fmt(m.encode_p50_ms, 1)} / ${fmt(m.encode_p99_ms, 1)} ms`);
    const p99 = m.chat_p99_ms;
    row(facts, "chat p50 / p99", `${fmt(m.chat_p50_ms, 1)} / ${fmt(p99, 1)} ms (budget ${budget} ms)`,
      p99 === null || p99 === undefined ? "" : p99 <= budget ? "ok" : "bad");
    row(facts, "agents used", `${fmt(m.feedback)} responses: top-1 ${fmt(m.top1_use)}, MRR ${fmt(m.mrr)}`);
    if (m.paired_feedback) {
      row(facts, "same chats as active", `MRR ${fmt(m.paired_mrr)} vs ${fmt(m.paired_active_mrr)} (${m.paired_feedback} used)`);
    }
    if (m.interleaved) {
      const interval = m.interleave_interval;
      const verdict = m.interleave_winner === "candidate" ? "agents prefer it"
        : m.interleave_winner === "active" ? "agents prefer the active model"
        : m.interleave_chats_needed ? `not decided: about ${m.interleave_chats_needed} more chats` : "not decided";
      row(facts, "interleaved",
        `${m.interleaved} chats: its pick used ${m.interleave_wins}, the active model's ${m.interleave_losses}` +
        (interval ? `; share ${fmt(m.interleave_share)} (95% ${fmt(interval[0])}–${fmt(interval[1])}), ` +
          `p ${fmt(m.interleave_p)}` : "") +
        (m.interleave_departed_workers ? `; counts the votes of ${m.interleave_departed_workers} workers gone` : "") +
        ` · ${verdict}`,
        m.interleave_winner === "candidate" ? "ok" : m.interleave_winner === "active" ? "bad" : "");
    }
    card.append(title, facts);
    if (m.gates) {
      const gates = document.createElement("ul");
      gates.className = "gates";
      for (const gate of m.gates) {
        const item = document.createElement("li");
        item.className = gate.passed ? "ok" : "bad";
        item.textContent = `${gate.passed ? "✓" : "✗"} ${gate.name}: ${gate.detail}`;
        gates.append(item);
      }
      card.append(gates);
    }
    models.append(card);
  }
  if (!report.models.length) models.innerHTML = '<p class="empty">No registry yet.</p>';
  history.replaceChildren(...report.history.slice().reverse().map((change) => {
    const item = document.createElement("li");
    item.textContent = `${new Date(change.at).toLocaleString()} · ${change.action} ${change.model_id}` +
      (change.forced ? ` (forced: ${change.reason})` : "") +
      (change.operator ? ` by ${change.operator}` : "") +
      (Object.keys(change.figures || {}).length
        ? ": " + Object.entries(change.figures).map(([name, value]) => `${name} ${value}`).join(", ")
        : "");
    return item;
  }));
}

async function refresh() {
  try {
    const response = await fetch("/models");
    if (!response.ok) throw new Error(`${response.status}`);
    render(await response.json());
    statusLine.textContent = "live";
    statusLine.className = "status live";
  } catch (error) {
    statusLine.textContent = `cannot reach the worker (${error.message})`;
    statusLine.className = "status down";
  }
}

refresh();
setInterval(refresh, 2000);
