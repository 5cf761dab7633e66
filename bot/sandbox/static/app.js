// Deploy Bot sandbox page: renders the emulator's state like a Slack channel. Plain JS, no build step.
// Every action goes to /sandbox/* endpoints, which drive the bot through the emulator as Slack would.
"use strict";

const EMOJI = {
  white_check_mark: "✅", heavy_check_mark: "✔️", x: "❌", rocket: "🚀", warning: "⚠️", no_entry: "⛔",
  hourglass_flowing_sand: "⏳", hourglass: "⌛", heavy_minus_sign: "➖", arrow_backward: "◀️",
  leftwards_arrow_with_hook: "↩️", checkered_flag: "🏁", rewind: "⏪", rotating_light: "🚨",
  white_large_square: "⬜", black_large_square: "⬛", large_green_circle: "🟢", large_yellow_circle: "🟡",
  red_circle: "🔴", large_blue_circle: "🔵", green_circle: "🟢", yellow_circle: "🟡", tada: "🎉",
  fire: "🔥", lock: "🔒", unlock: "🔓", key: "🔑", bell: "🔔", no_bell: "🔕", pager: "📟", mag: "🔍",
  memo: "📝", clipboard: "📋", page_facing_up: "📄", chart_with_upwards_trend: "📈",
  chart_with_downwards_trend: "📉", bar_chart: "📊", stopwatch: "⏱️", alarm_clock: "⏰", clock3: "🕒",
  calendar: "📆", information_source: "ℹ️", question: "❓", exclamation: "❗", bangbang: "‼️",
  heavy_exclamation_mark: "❗", thumbsup: "👍", "+1": "👍", thumbsdown: "👎", "-1": "👎", eyes: "👀",
  wave: "👋", raised_hands: "🙌", clap: "👏", pray: "🙏", point_right: "👉", sos: "🆘", boom: "💥",
  construction: "🚧", gear: "⚙️", wrench: "🔧", hammer_and_wrench: "🛠️", package: "📦", link: "🔗",
  arrows_counterclockwise: "🔄", repeat: "🔁", arrow_forward: "▶️", arrow_right: "➡️", arrow_left: "⬅️",
  arrow_up: "⬆️", arrow_down: "⬇️", stop_sign: "🛑", octagonal_sign: "🛑", shield: "🛡️", sparkles: "✨",
  star: "⭐", bulb: "💡", speech_balloon: "💬", busts_in_silhouette: "👥", bust_in_silhouette: "👤",
  ballot_box_with_check: "☑️", radio_button: "🔘", small_orange_diamond: "🔸", small_blue_diamond: "🔹",
  zzz: "💤", skull: "💀", ok: "🆗", new: "🆕", sunny: "☀️", cloud: "☁️", zap: "⚡", test_tube: "🧪",
  file_cabinet: "🗄️", building_construction: "🏗️", ambulance: "🚑", sleeping: "😴", smile: "😄",
  slightly_smiling_face: "🙂", thinking_face: "🤔", heart: "❤️", "100": "💯", inbox_tray: "📥",
  outbox_tray: "📤", scroll: "📜", satellite: "📡", traffic_light: "🚥", vertical_traffic_light: "🚦",
};

const params = new URLSearchParams(location.search);
const app = {
  user: params.get("user") || localStorage.getItem("sandbox-user") || "U0RITA",
  channel: params.get("channel") || "C0DEPLOY",
  state: null,
  seq: -1,
  thread: params.get("thread") || null,
  modalKey: null,
  dismissedWarnings: 0,
  openMenu: null,
};

// --- utilities ------------------------------------------------------------------------------------------

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function unslack(text) {
  // Slack escapes &, < and > in message text; turn them back before escaping for HTML.
  return String(text).replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "html") node.innerHTML = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function emojify(escaped) {
  return escaped.replace(/:([a-z0-9_+-]+):/g, (m, name) => (EMOJI[name] ? EMOJI[name] : m));
}

function userName(id) {
  const user = (app.state && app.state.users.find((u) => u.id === id)) || null;
  return user ? user.name : id;
}

function userLabel(id) {
  const user = (app.state && app.state.users.find((u) => u.id === id)) || null;
  return user ? (user.is_bot ? "Deploy Bot" : user.real_name) : id;
}

function channelName(id) {
  const channel = app.state && app.state.channels.find((c) => c.id === id);
  return channel ? channel.name : id;
}

function pad(n) {
  return String(n).padStart(2, "0");
}

function formatDate(date, format) {
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const today = new Date();
  const yesterday = new Date(today.getTime() - 86400000);
  const pretty = (fallback) =>
    date.toDateString() === today.toDateString() ? "today"
      : date.toDateString() === yesterday.toDateString() ? "yesterday" : fallback;
  const short = date.toLocaleDateString([], { month: "short", day: "numeric", year: "numeric" });
  const long = date.toLocaleDateString([], { weekday: "long", month: "long", day: "numeric", year: "numeric" });
  const normal = date.toLocaleDateString([], { month: "long", day: "numeric", year: "numeric" });
  const tokens = {
    date_num: `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`,
    date: normal, date_short: short, date_long: long,
    date_pretty: pretty(normal), date_short_pretty: pretty(short), date_long_pretty: pretty(long),
    time: time, time_secs: date.toLocaleTimeString(),
  };
  return format.replace(/\{(\w+)\}/g, (m, name) => (name in tokens ? tokens[name] : m));
}

// --- mrkdwn -----------------------------------------------------------------------------------------------

function controlSequence(inner) {
  // inner is the raw text between < and >, still Slack-escaped.
  const bar = inner.indexOf("|");
  const target = bar >= 0 ? inner.slice(0, bar) : inner;
  const label = bar >= 0 ? unslack(inner.slice(bar + 1)) : null;
  if (target.startsWith("@")) {
    return `<span class="mention">@${esc(label ? label.replace(/^@/, "") : userName(target.slice(1)))}</span>`;
  }
  if (target.startsWith("#")) {
    return `<span class="mention">#${esc(label || channelName(target.slice(1)))}</span>`;
  }
  if (target.startsWith("!subteam^")) {
    const id = target.slice("!subteam^".length);
    const handle = label ? label.replace(/^@/, "") : (app.state && app.state.usergroups[id]) || id;
    return `<span class="mention">@${esc(handle)}</span>`;
  }
  if (target.startsWith("!date^")) {
    const [, unix, format] = target.split("^");
    const date = new Date(Number(unix) * 1000);
    if (Number.isNaN(date.getTime())) return esc(label || "");
    return `<time class="date" datetime="${esc(date.toISOString())}" title="${esc(date.toString())}">${esc(formatDate(date, format || "{date_short} {time}"))}</time>`;
  }
  if (target.startsWith("!")) {
    const name = target.slice(1);
    return `<span class="mention">@${esc(label || name)}</span>`;
  }
  const url = unslack(target);
  const safe = /^(https?:|mailto:)/i.test(url) ? url : "#";
  return `<a href="${esc(safe)}" target="_blank" rel="noopener noreferrer">${esc(label || url)}</a>`;
}

function inlineFormat(escaped) {
  const edge = "(^|[\\s(\\[{>\"'.,;:!?\\u0000-\\u0002-])";
  const after = "(?=$|[\\s)\\]}<\"'.,;:!?\\u0000-\\u0002-])";
  let out = escaped;
  out = out.replace(new RegExp(edge + "\\*([^*\\n]+?)\\*" + after, "g"), "$1<b>$2</b>");
  out = out.replace(new RegExp(edge + "_([^_\\n]+?)_" + after, "g"), "$1<i>$2</i>");
  out = out.replace(new RegExp(edge + "~([^~\\n]+?)~" + after, "g"), "$1<s>$2</s>");
  return emojify(out);
}

function mrkdwn(text) {
  // Protect code and control sequences with placeholders, escape the rest, format, then put them back.
  const saved = [];
  const keep = (html) => `\u0001${saved.push(html) - 1}\u0002`;
  let src = String(text || "");
  src = src.replace(/```([\s\S]*?)```/g, (m, code) => keep(`<pre class="code-block">${esc(unslack(code.replace(/^\n/, "")))}</pre>`));
  src = src.replace(/`([^`\n]+)`/g, (m, code) => keep(`<code>${esc(unslack(code))}</code>`));
  src = src.replace(/<([^<>\n]+)>/g, (m, inner) => keep(controlSequence(inner)));
  const lines = src.split("\n");
  const html = [];
  let quote = [];
  const flush = () => {
    if (quote.length) html.push(`<blockquote>${quote.join("<br>")}</blockquote>`);
    quote = [];
  };
  for (const line of lines) {
    const m = /^(?:&gt;|>)\s?(.*)$/.exec(line);
    const rendered = inlineFormat(esc(unslack(m ? m[1] : line)));
    if (m) quote.push(rendered);
    else {
      flush();
      html.push(rendered + "\n");
    }
  }
  flush();
  let out = html.join("").replace(/\n$/, "").replace(/\n/g, "<br>");
  for (let i = 0; i < 3 && out.includes("\u0001"); i++) {
    out = out.replace(/\u0001(\d+)\u0002/g, (m, n) => saved[Number(n)]);
  }
  return out;
}

function textObject(obj) {
  if (!obj) return "";
  if (obj.type === "mrkdwn") return mrkdwn(obj.text);
  return emojify(esc(obj.text || ""));
}

// --- Block Kit ------------------------------------------------------------------------------------------

function renderBlocks(blocks, ctx) {
  return el("div", { class: "blocks" }, (blocks || []).map((block) => renderBlock(block, ctx)));
}

function renderBlock(block, ctx) {
  const attrs = { class: `block block-${block.type}`, "data-block-id": block.block_id || "" };
  switch (block.type) {
    case "header":
      return el("div", { ...attrs, html: textObject(block.text) });
    case "divider":
      return el("hr", attrs);
    case "context":
      return el("div", attrs, (block.elements || []).map((e) =>
        e.type === "image" ? el("img", { src: e.image_url, alt: e.alt_text || "", class: "ctx-img" })
          : el("span", { class: "ctx-item", html: textObject(e) })));
    case "section": {
      const body = el("div", { class: "section-body" });
      if (block.text) body.append(el("div", { class: "section-text", html: textObject(block.text) }));
      if (block.fields) {
        body.append(el("div", { class: "fields" }, block.fields.map((f) => el("div", { class: "field", html: textObject(f) }))));
      }
      const node = el("div", attrs, body);
      if (block.accessory) node.append(el("div", { class: "accessory" }, renderElement(block.accessory, block, ctx)));
      return node;
    }
    case "actions":
      return el("div", attrs, (block.elements || []).map((e) => renderElement(e, block, ctx)));
    case "input":
      return renderInput(block, ctx);
    case "image":
      return el("img", { ...attrs, src: block.image_url, alt: block.alt_text || "" });
    case "rich_text":
      return el("div", attrs, "(rich text)");
    default:
      return el("div", { ...attrs, class: "block block-unknown" }, `[unsupported block: ${block.type}]`);
  }
}

function act(ctx, block, element, extra) {
  if (!ctx.message) return;
  const payload = {
    user: app.user, channel: app.channel, ts: ctx.message.ts, action_id: element.action_id,
    block_id: block.block_id, ...extra,
  };
  post("/sandbox/click", payload);
}

function withConfirm(confirm, go) {
  if (!confirm) return go();
  const close = () => dialog.remove();
  const dialog = el("div", { class: "overlay confirm-overlay" },
    el("div", { class: "modal confirm", role: "dialog", "aria-modal": "true" },
      el("div", { class: "modal-title", html: textObject(confirm.title) || "Are you sure?" }),
      el("div", { class: "modal-body", html: textObject(confirm.text) }),
      el("div", { class: "modal-footer" },
        el("button", { type: "button", class: "btn", onclick: close }, confirm.deny ? confirm.deny.text : "Cancel"),
        el("button", {
          type: "button",
          class: `btn ${confirm.style === "danger" ? "btn-danger" : "btn-primary"} confirm-yes`,
          onclick: () => { close(); go(); },
        }, confirm.confirm ? confirm.confirm.text : "Yes"))));
  document.body.append(dialog);
}

function renderElement(element, block, ctx) {
  const key = `${ctx.message ? ctx.message.ts : "view"}|${block.block_id}|${element.action_id}`;
  switch (element.type) {
    case "button": {
      const cls = `btn ${element.style === "primary" ? "btn-primary" : element.style === "danger" ? "btn-danger" : ""}`;
      const attrs = {
        type: "button", class: cls, "data-action-id": element.action_id, "data-value": element.value || "",
        onclick: () => {
          if (element.url) window.open(element.url, "_blank", "noopener");
          withConfirm(element.confirm, () => act(ctx, block, element, element.value !== undefined ? { value: element.value } : {}));
        },
      };
      return el("button", { ...attrs, html: textObject(element.text) });
    }
    case "checkboxes":
    case "radio_buttons": {
      const initial = new Set((element.initial_options || element.initial_option && [element.initial_option] || []).map((o) => o.value));
      const group = el("div", { class: `checks ${element.type}`, "data-action-id": element.action_id });
      const name = `${key}`;
      for (const option of element.options || []) {
        const input = el("input", {
          type: element.type === "checkboxes" ? "checkbox" : "radio", name, value: option.value,
          checked: initial.has(option.value), disabled: !ctx.message && !ctx.view,
        });
        if (ctx.message) {
          input.addEventListener("change", () => {
            const chosen = [...group.querySelectorAll("input:checked")].map((i) => i.value);
            const extra = element.type === "checkboxes" ? { selected_options: chosen } : { selected_option: chosen[0] || null };
            withConfirm(element.confirm, () => act(ctx, block, element, extra));
          });
        }
        group.append(el("label", { class: "check" }, input,
          el("span", { class: "check-text" },
            el("span", { html: textObject(option.text) }),
            option.description ? el("span", { class: "check-desc", html: textObject(option.description) }) : null)));
      }
      return group;
    }
    case "overflow": {
      const menu = el("div", { class: "menu", hidden: app.openMenu !== key },
        (element.options || []).map((option) => el("button", {
          type: "button", class: "menu-item", "data-value": option.value,
          onclick: () => {
            app.openMenu = null;
            menu.hidden = true;
            withConfirm(element.confirm, () => act(ctx, block, element, { selected_option: option.value }));
          },
          html: textObject(option.text),
        })));
      const toggle = el("button", {
        type: "button", class: "icon-btn overflow-btn", "aria-label": "More actions", "data-action-id": element.action_id,
        onclick: (event) => {
          event.stopPropagation();
          const open = menu.hidden;
          document.querySelectorAll(".menu").forEach((m) => { m.hidden = true; });
          menu.hidden = !open;
          app.openMenu = open ? key : null;
        },
      }, "⋮");
      return el("div", { class: "overflow" }, toggle, menu);
    }
    case "static_select": {
      const select = el("select", { class: "select", "data-action-id": element.action_id },
        el("option", { value: "" }, element.placeholder ? element.placeholder.text : "Select…"),
        (element.options || []).map((o) => el("option", {
          value: o.value, selected: element.initial_option && element.initial_option.value === o.value,
        }, unslack(o.text.text))));
      if (ctx.message) {
        select.addEventListener("change", () => act(ctx, block, element, { selected_option: select.value || null }));
      }
      return select;
    }
    case "image":
      return el("img", { src: element.image_url, alt: element.alt_text || "", class: "accessory-img" });
    default:
      return el("span", { class: "unsupported" }, `[${element.type}]`);
  }
}

// --- messages ---------------------------------------------------------------------------------------------

function avatar(userId) {
  const user = app.state.users.find((u) => u.id === userId);
  if (user && user.is_bot) return el("div", { class: "avatar avatar-bot" }, "🚀");
  const name = user ? user.real_name : userId;
  let hue = 0;
  for (const ch of String(userId)) hue = (hue * 31 + ch.charCodeAt(0)) % 360;
  return el("div", { class: "avatar", style: `background: hsl(${hue} 45% 45%)` }, name.slice(0, 1).toUpperCase());
}

function fileCard(file) {
  const size = file.size >= 1024 ? `${(file.size / 1024).toFixed(1)} KB` : `${file.size} B`;
  return el("a", { class: "file-card", href: `/sandbox/file/${encodeURIComponent(file.id)}`, target: "_blank", rel: "noopener" },
    el("span", { class: "file-icon" }, "📄"),
    el("span", { class: "file-meta" }, el("span", { class: "file-name" }, file.title || file.name), el("span", { class: "muted" }, `${size} · click to open`)));
}

function renderMessage(message, { inThread }) {
  const ctx = { message };
  const time = new Date(Number(message.ts) * 1000);
  const isBot = !!message.bot_id;
  const head = el("div", { class: "msg-head" },
    el("span", { class: "msg-author" }, userLabel(message.user)),
    isBot ? el("span", { class: "app-badge" }, "APP") : null,
    el("time", { class: "msg-time", datetime: time.toISOString(), title: time.toString() },
      time.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })),
    message.edited ? el("span", { class: "muted small" }, "(edited)") : null);
  const body = el("div", { class: "msg-body" }, head);
  if (message.blocks && message.blocks.length) body.append(renderBlocks(message.blocks, ctx));
  else if (message.text) body.append(el("div", { class: "msg-text", html: mrkdwn(message.text) }));
  for (const file of message.files || []) body.append(fileCard(file));
  if (message.reactions) {
    body.append(el("div", { class: "reactions" }, message.reactions.map((r) =>
      el("span", { class: "reaction" }, emojify(`:${esc(r.name)}:`), ` ${r.count}`))));
  }
  if (message.is_ephemeral) {
    body.append(el("div", { class: "ephemeral-note" }, "👁 Only visible to you"));
  }
  if (!inThread && message.reply_count) {
    body.append(el("button", {
      type: "button", class: "replies-link", "data-thread": message.ts,
      onclick: () => openThread(message.ts),
    }, `${message.reply_count} ${message.reply_count === 1 ? "reply" : "replies"}`));
  }
  return el("div", {
    class: `message${message.is_ephemeral ? " ephemeral" : ""}${app.thread === message.ts ? " selected" : ""}`,
    "data-ts": message.ts,
  }, avatar(message.user), body);
}

function isReply(m) {
  return m.thread_ts && m.thread_ts !== m.ts;
}

function byTs(a, b) {
  return Number(a.ts) - Number(b.ts);
}

function renderList(container, messages, options) {
  const nearBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 80;
  const scroll = container.scrollTop;
  container.replaceChildren(...messages.map((m) => renderMessage(m, options)));
  if (!messages.length && !options.inThread) {
    container.append(el("div", { class: "empty" },
      el("p", {}, "This is the very beginning of #", channelName(app.channel), "."),
      el("p", {}, "Type ", el("code", {}, "/deploy start demo-api 1.0.0"), " below to start a deployment run.")));
  }
  container.scrollTop = nearBottom && options.first !== false ? container.scrollHeight : scroll;
}

// --- thread pane --------------------------------------------------------------------------------------------

function openThread(ts) {
  app.thread = ts;
  const url = new URL(location.href);
  url.searchParams.set("thread", ts);
  history.replaceState(null, "", url);
  document.getElementById("app").classList.add("thread-open");
  render(true);
  document.getElementById("thread-messages").scrollTop = 0;
}

function closeThread() {
  app.thread = null;
  const url = new URL(location.href);
  url.searchParams.delete("thread");
  history.replaceState(null, "", url);
  document.getElementById("app").classList.remove("thread-open");
  render();
}

// --- modals ------------------------------------------------------------------------------------------------

function renderInput(block, ctx) {
  const element = block.element || {};
  const id = `in-${block.block_id}-${element.action_id}`;
  let control;
  if (element.type === "plain_text_input") {
    const attrs = {
      id, class: "text-input", "data-block-id": block.block_id, "data-action-id": element.action_id,
      placeholder: element.placeholder ? element.placeholder.text : "", maxlength: element.max_length || null,
    };
    control = element.multiline ? el("textarea", { ...attrs, rows: 3 }, element.initial_value || "")
      : el("input", { ...attrs, type: "text", value: element.initial_value || "" });
  } else {
    control = renderElement(element, block, ctx);
    control.setAttribute("data-block-id", block.block_id);
    control.setAttribute("data-action-id", element.action_id);
    control.classList.add("input-control");
  }
  return el("div", { class: "block block-input", "data-block-id": block.block_id },
    el("label", { class: "input-label", for: id }, block.label ? block.label.text : "",
      block.optional ? el("span", { class: "muted" }, " (optional)") : null),
    control,
    block.hint ? el("div", { class: "hint", html: textObject(block.hint) }) : null,
    el("div", { class: "input-error", "data-error-for": block.block_id, hidden: true }));
}

function viewValues(modal, view) {
  const values = {};
  let missing = null;
  for (const block of view.blocks || []) {
    if (block.type !== "input" || !block.element) continue;
    const element = block.element;
    const node = modal.querySelector(`[data-block-id="${CSS.escape(block.block_id)}"][data-action-id="${CSS.escape(element.action_id)}"]`);
    let value = null;
    if (!node) continue;
    if (element.type === "plain_text_input") value = node.value;
    else if (element.type === "static_select") value = node.value || null;
    else if (element.type === "checkboxes") value = [...node.querySelectorAll("input:checked")].map((i) => i.value);
    else if (element.type === "radio_buttons") value = (node.querySelector("input:checked") || {}).value || null;
    const empty = value === null || value === "" || (Array.isArray(value) && !value.length);
    if (empty && !block.optional && !missing) missing = block.block_id;
    (values[block.block_id] = values[block.block_id] || {})[element.action_id] = value;
  }
  return { values, missing };
}

function showErrors(modal, errors) {
  modal.querySelectorAll(".input-error").forEach((node) => {
    const text = errors[node.getAttribute("data-error-for")];
    node.hidden = !text;
    node.textContent = text || "";
    node.closest(".block-input").classList.toggle("has-error", !!text);
  });
}

function renderModal() {
  const root = document.getElementById("modal-root");
  const views = app.state.views || [];
  const view = views[views.length - 1];
  if (!view) {
    root.replaceChildren();
    app.modalKey = null;
    return;
  }
  const key = `${view.id}|${view.hash}`;
  const existing = root.querySelector(".modal");
  if (app.modalKey === key && existing) {
    showErrors(existing, view.errors || {});
    return;
  }
  app.modalKey = key;
  const ctx = { view };
  const close = () => post("/sandbox/close_view", { user: app.user, view_id: view.id });
  const form = el("form", { class: "modal", role: "dialog", "aria-modal": "true", "data-view-id": view.id, "data-callback-id": view.callback_id });
  form.append(
    el("div", { class: "modal-title" }, el("span", { html: textObject(view.title) }),
      el("button", { type: "button", class: "icon-btn", "aria-label": "Close", onclick: close }, "×")),
    el("div", { class: "modal-body" }, renderBlocks(view.blocks, ctx)),
    el("div", { class: "modal-footer" },
      el("button", { type: "button", class: "btn modal-close", onclick: close }, view.close ? view.close.text : "Cancel"),
      view.submit ? el("button", { type: "submit", class: "btn btn-primary modal-submit" }, view.submit.text) : null));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const { values, missing } = viewValues(form, view);
    if (missing) {
      showErrors(form, { [missing]: "Please complete this required field." });
      return;
    }
    post("/sandbox/submit", { user: app.user, view_id: view.id, values });
  });
  root.replaceChildren(el("div", { class: "overlay" }, form));
  showErrors(form, view.errors || {});
  const first = form.querySelector("textarea, input[type=text]");
  if (first) first.focus();
}

// --- sidebar, warnings, demo -----------------------------------------------------------------------------

function renderSidebar() {
  const list = document.getElementById("channel-list");
  list.replaceChildren(...app.state.channels.filter((c) => !c.is_im).map((c) =>
    el("li", { class: c.id === app.channel ? "active" : "" }, `# ${c.name}`)));
  const switcher = document.getElementById("user-switcher");
  const people = app.state.people.map((id) => app.state.users.find((u) => u.id === id)).filter(Boolean);
  if (switcher.options.length !== people.length) {
    switcher.replaceChildren(...people.map((u) => el("option", { value: u.id }, `${u.real_name} — ${u.role}`)));
  }
  switcher.value = app.user;
  const me = people.find((u) => u.id === app.user);
  document.getElementById("user-role").textContent = me ? `@${me.name}: ${me.role}` : app.user;
  document.getElementById("channel-title").textContent = channelName(app.channel);
}

function renderWarnings() {
  const box = document.getElementById("warnings");
  const warnings = app.state.warnings.slice(app.dismissedWarnings);
  box.hidden = !warnings.length;
  if (!warnings.length) return;
  box.replaceChildren(
    el("div", { class: "warnings-head" }, el("strong", {}, `⚠️ ${warnings.length} emulator warning${warnings.length === 1 ? "" : "s"}`),
      el("button", { type: "button", class: "btn btn-small", onclick: () => { app.dismissedWarnings = app.state.warnings.length; renderWarnings(); } }, "Dismiss")),
    el("ul", {}, warnings.slice(-20).map((w) => el("li", {}, w))));
}

async function loadDemo() {
  const status = document.getElementById("demo-status");
  try {
    const data = await (await fetch("/sandbox/demo")).json();
    if (!data.ok) {
      status.textContent = data.error;
      return;
    }
    const s = data.settings;
    const form = document.getElementById("demo-form");
    if (!form.contains(document.activeElement)) {
      form.error_rate.value = s.error_rate;
      form.latency_ms.value = s.latency_ms;
      form.healthy.checked = s.healthy;
      form.querySelectorAll("input[name=broken]").forEach((i) => { i.checked = s.broken.includes(i.value); });
    }
    const counts = Object.entries(data.requests).map(([code, n]) => `${code}: ${n}`).join(", ");
    status.textContent = `${data.url} · error rate ${s.error_rate} · latency ${s.latency_ms} ms · ${s.healthy ? "healthy" : "unhealthy"}` +
      `${s.broken.length ? ` · broken: ${s.broken.join(", ")}` : ""} · requests ${counts || "none"}`;
  } catch (err) {
    status.textContent = "demo service unreachable";
  }
}

async function applyDemo(event) {
  event.preventDefault();
  const form = event.target;
  const body = {
    error_rate: Number(form.error_rate.value || 0),
    latency_ms: Number(form.latency_ms.value || 0),
    healthy: form.healthy.checked,
    broken: [...form.querySelectorAll("input[name=broken]:checked")].map((i) => i.value),
  };
  const resp = await fetch("/sandbox/demo", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const data = await resp.json();
  if (!data.ok) document.getElementById("demo-status").textContent = `rejected: ${data.error}`;
  else {
    document.activeElement.blur();
    loadDemo();
  }
}

// --- state and live updates -----------------------------------------------------------------------------

async function post(path, body) {
  try {
    const resp = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const data = await resp.json();
    if (!resp.ok || data.ok === false) toast(data.error || `HTTP ${resp.status}${data.status ? ` (bot answered ${data.status})` : ""}`);
    return data;
  } catch (err) {
    toast(`request failed: ${err}`);
    return null;
  }
}

function toast(text) {
  const node = el("div", { class: "toast" }, text);
  document.body.append(node);
  setTimeout(() => node.remove(), 4000);
}

async function refresh() {
  const url = `/sandbox/state?user=${encodeURIComponent(app.user)}&channel=${encodeURIComponent(app.channel)}`;
  const state = await (await fetch(url)).json();
  if (state.seq < app.seq && app.state && state.me === app.state.me) return;
  app.state = state;
  app.seq = state.seq;
  document.getElementById("conn").className = "conn live";
  render();
}

function render(scrollThreadTop) {
  if (!app.state) return;
  renderSidebar();
  renderWarnings();
  const all = app.state.messages.concat(app.state.ephemerals).sort(byTs);
  renderList(document.getElementById("messages"), all.filter((m) => !isReply(m)), { inThread: false });
  const pane = document.getElementById("thread");
  const parent = app.thread && app.state.messages.find((m) => m.ts === app.thread);
  pane.hidden = !parent;
  document.getElementById("app").classList.toggle("thread-open", !!parent);
  if (parent) {
    const replies = all.filter((m) => isReply(m) && m.thread_ts === app.thread);
    const list = document.getElementById("thread-messages");
    renderList(list, [parent, ...replies], { inThread: true, first: false });
    if (scrollThreadTop) list.scrollTop = 0;
  }
  renderModal();
  document.body.dataset.seq = String(app.seq);
}

async function liveLoop() {
  const conn = document.getElementById("conn");
  for (;;) {
    try {
      const resp = await fetch(`/sandbox/poll?since=${app.seq}&timeout=20`);
      const { seq } = await resp.json();
      conn.className = "conn live";
      conn.title = "live";
      if (seq !== app.seq) await refresh();
    } catch (err) {
      conn.className = "conn down";
      conn.title = "disconnected: retrying";
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

function setUser(id) {
  app.user = id;
  localStorage.setItem("sandbox-user", id);
  const url = new URL(location.href);
  url.searchParams.set("user", id);
  history.replaceState(null, "", url);
  app.modalKey = null;
  app.seq = -1;
  refresh();
}

async function send(input, threadTs) {
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  if (text.startsWith("/") && !threadTs) {
    await post("/sandbox/slash", { user: app.user, channel: app.channel, text });
  } else {
    await post("/sandbox/message", { user: app.user, channel: app.channel, text, thread_ts: threadTs || null });
  }
}

function wireComposer(formId, inputId, threadTs) {
  const form = document.getElementById(formId);
  const input = document.getElementById(inputId);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(input, threadTs());
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      send(input, threadTs());
    }
  });
}

function init() {
  wireComposer("composer", "composer-input", () => null);
  wireComposer("thread-composer", "thread-input", () => app.thread);
  document.getElementById("thread-close").addEventListener("click", closeThread);
  document.getElementById("user-switcher").addEventListener("change", (e) => setUser(e.target.value));
  document.getElementById("menu-toggle").addEventListener("click", () => document.getElementById("app").classList.toggle("sidebar-open"));
  document.getElementById("demo-form").addEventListener("submit", applyDemo);
  document.addEventListener("click", () => {
    document.querySelectorAll(".menu").forEach((m) => { m.hidden = true; });
    app.openMenu = null;
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const confirm = document.querySelector(".confirm-overlay");
    if (confirm) confirm.remove();
  });
  refresh().then(liveLoop);
  loadDemo();
  setInterval(loadDemo, 5000);
}

window.sandbox = { app, mrkdwn, refresh };
init();
