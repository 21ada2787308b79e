/*
 * 买家聊天小部件 (buyer chat widget) — plain JavaScript, no build step, no dependencies.
 *
 * Include widget.css and widget.js on a shop page, then call
 *   shopWidget.start({shopName: "...", buyerId: "b0001" | null, getToken: async (buyerId) => "<token>"})
 * A buyer token opens one socket only (docs/buyer-tokens.md), so signed-in buyers need getToken:
 * it is called before every connect and reconnect; a fixed `token` serves the first connection only.
 * The widget draws a floating button (#chat-launcher) and a chat panel (#chat-panel),
 * talks to the gateway over /ws/buyer, survives reloads (history is replayed with after=0),
 * reconnects with backoff and queues what the buyer types while offline.
 *
 * Everything that comes from the server or from the buyer is rendered with textContent.
 *
 * Public API (window.shopWidget):
 *   start(options)      mount (if needed) and connect
 *   open() / close() / toggle()
 *   reconnect()         drop the socket and connect again as the same buyer/visitor
 *   reconnect({buyerId, token})   switch to a signed buyer ({buyerId: null} = anonymous visitor)
 *   setShopName(name)
 *   state()             a snapshot for tests and debugging
 */
(function () {
  "use strict";

  var MAX_CHARS = 500;
  var PREFIX = "shopchat.";
  var MAX_TITLES = 300;
  var BACKOFF_MIN = 1000;
  var BACKOFF_MAX = 15000;
  var PAYLOAD_RE = /^\/[A-Za-z0-9_]+(\{[\s\S]*\})?$/;

  // --- storage (localStorage may be unavailable: fall back to memory) -----------------

  var memoryStore = {};
  var store = {
    get: function (key, fallback) {
      var raw = null;
      try {
        raw = window.localStorage.getItem(PREFIX + key);
      } catch (e) {
        raw = Object.prototype.hasOwnProperty.call(memoryStore, key) ? memoryStore[key] : null;
      }
      if (raw === null || raw === undefined) return fallback;
      try {
        return JSON.parse(raw);
      } catch (e) {
        return fallback;
      }
    },
    set: function (key, value) {
      var raw = JSON.stringify(value);
      try {
        window.localStorage.setItem(PREFIX + key, raw);
      } catch (e) {
        memoryStore[key] = raw;
      }
    },
  };

  function randomHex(bytes) {
    var out = "";
    var arr = new Uint8Array(bytes);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(arr);
    } else {
      for (var i = 0; i < bytes; i++) arr[i] = Math.floor(Math.random() * 256);
    }
    for (var j = 0; j < arr.length; j++) out += ("0" + arr[j].toString(16)).slice(-2);
    return out;
  }

  function visitorId() {
    var id = store.get("visitor", null);
    if (typeof id !== "string" || !/^[A-Za-z0-9-]{8,64}$/.test(id)) {
      id = "v-" + randomHex(16);
      store.set("visitor", id);
    }
    return id;
  }

  function charCount(text) {
    return Array.from(text).length; // code points, as the server counts them
  }

  // --- DOM helpers -----------------------------------------------------------------------

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        if (attrs[name] === null || attrs[name] === undefined || attrs[name] === false) return;
        if (name === "className") node.className = attrs[name];
        else node.setAttribute(name, attrs[name] === true ? "" : String(attrs[name]));
      });
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  var SVG_NS = "http://www.w3.org/2000/svg";
  function icon(paths, size) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", size || 24);
    svg.setAttribute("height", size || 24);
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    paths.forEach(function (d) {
      var p = document.createElementNS(SVG_NS, "path");
      p.setAttribute("d", d);
      svg.appendChild(p);
    });
    return svg;
  }
  var ICON_CHAT = [
    "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z",
  ];
  var ICON_CLOSE = ["M6 6l12 12M18 6L6 18"];
  var ICON_SEND = ["M3 11.5L21 3l-8.5 18-2.3-7.2L3 11.5z"];

  // --- state -------------------------------------------------------------------------------

  var ui = null; // DOM references once mounted
  var S = {
    started: false,
    shopName: "",
    buyerId: null, // null = anonymous visitor
    token: null,
    getToken: null,
    baseUrl: null,
    conversation: null, // "buyer-b0001" | "visitor-…"
    ws: null,
    gen: 0, // bumps on every (re)connect so stale sockets are ignored
    connected: false,
    freshConversation: true, // first connect of this conversation in this page: after=0
    attempts: 0,
    retryTimer: null,
    seen: {}, // line id -> true
    lastSeen: 0,
    pending: [], // [{client_id, text, title, afterId, at}]
    titles: {}, // line id -> button title shown in the buyer's bubble
    lastRead: 0,
    unread: 0,
    isOpen: false,
    greeted: false,
    typing: false,
    mode: "bot", // who answers: "bot", or "agent" after a human joined (derived from the lines)
  };

  function key(name) {
    return "conv." + S.conversation + "." + name;
  }

  function conversationFor(buyerId) {
    return buyerId ? "buyer-" + buyerId : "visitor-" + visitorId();
  }

  function loadConversation() {
    S.seen = {};
    S.lastSeen = 0;
    S.freshConversation = true;
    S.typing = false;
    S.unread = 0;
    S.greeted = false;
    S.mode = "bot";
    S.pending = (store.get(key("pending"), []) || []).filter(function (p) {
      return (
        p && typeof p.client_id === "string" && typeof p.text === "string" &&
        p.text.trim() && charCount(p.text) <= MAX_CHARS
      );
    });
    S.titles = store.get(key("titles"), {}) || {};
    S.lastRead = Number(store.get(key("lastRead"), 0)) || 0;
  }

  function storedLastId() {
    return Number(store.get(key("lastId"), 0)) || 0;
  }

  function savePending() {
    store.set(key("pending"), S.pending);
  }

  function saveTitles() {
    var ids = Object.keys(S.titles);
    if (ids.length > MAX_TITLES) {
      ids.sort(function (a, b) { return Number(a) - Number(b); });
      ids.slice(0, ids.length - MAX_TITLES).forEach(function (id) { delete S.titles[id]; });
    }
    store.set(key("titles"), S.titles);
  }

  // --- mounting --------------------------------------------------------------------------

  function mount() {
    if (ui) return ui;
    var root = el("div", { id: "shop-chat", className: "sc-root" });

    var launcher = el("button", {
      id: "chat-launcher", type: "button", className: "sc-launcher",
      "aria-label": "联系客服", title: "联系客服", "aria-controls": "chat-panel", "aria-expanded": "false",
    });
    var launcherChat = el("span", { className: "sc-launcher-icon sc-launcher-chat" });
    launcherChat.appendChild(icon(ICON_CHAT, 26));
    var launcherClose = el("span", { className: "sc-launcher-icon sc-launcher-close" });
    launcherClose.appendChild(icon(ICON_CLOSE, 24));
    var badge = el("span", { id: "chat-badge", className: "sc-badge", hidden: true, "aria-label": "未读消息" });
    launcher.appendChild(launcherChat);
    launcher.appendChild(launcherClose);
    launcher.appendChild(badge);

    var panel = el("section", {
      id: "chat-panel", className: "sc-panel", role: "dialog", "aria-label": "在线客服", hidden: true,
    });

    var header = el("header", { className: "sc-header" });
    var avatar = el("div", { className: "sc-avatar", "aria-hidden": "true" }, "客");
    var titleBox = el("div", { className: "sc-title" });
    var shopName = el("div", { id: "chat-shop-name", className: "sc-shop-name" }, S.shopName || "在线客服");
    var status = el("div", { id: "chat-status", className: "sc-status", "data-state": "connecting" }, "连接中…");
    titleBox.appendChild(shopName);
    titleBox.appendChild(status);
    var closeBtn = el("button", { id: "chat-close", type: "button", className: "sc-close", "aria-label": "关闭", title: "关闭" });
    closeBtn.appendChild(icon(ICON_CLOSE, 22));
    header.appendChild(avatar);
    header.appendChild(titleBox);
    header.appendChild(closeBtn);

    var body = el("div", { className: "sc-body" });
    var messages = el("div", { id: "chat-messages", className: "sc-messages", "aria-live": "polite" });
    var typing = el("div", { id: "chat-typing", className: "sc-typing", hidden: true, "aria-label": "客服正在输入" });
    var dots = el("span", { className: "sc-dots", "aria-hidden": "true" });
    dots.appendChild(el("i"));
    dots.appendChild(el("i"));
    dots.appendChild(el("i"));
    typing.appendChild(dots);
    typing.appendChild(el("span", { className: "sc-typing-text" }, "客服正在输入…"));
    body.appendChild(messages);
    body.appendChild(typing);

    var footer = el("form", { className: "sc-footer", autocomplete: "off" });
    var inputWrap = el("div", { className: "sc-input-wrap" });
    var input = el("textarea", {
      id: "chat-input", className: "sc-input", rows: "1", placeholder: "请输入您的问题…",
      "aria-label": "输入消息", enterkeyhint: "send",
    });
    var counter = el("span", { id: "chat-counter", className: "sc-counter", "aria-live": "polite" }, "0/" + MAX_CHARS);
    inputWrap.appendChild(input);
    inputWrap.appendChild(counter);
    var send = el("button", { id: "chat-send", type: "submit", className: "sc-send", disabled: true, "aria-label": "发送" });
    send.appendChild(icon(ICON_SEND, 20));
    send.appendChild(el("span", { className: "sc-send-text" }, "发送"));
    footer.appendChild(inputWrap);
    footer.appendChild(send);

    panel.appendChild(header);
    panel.appendChild(body);
    panel.appendChild(footer);
    root.appendChild(panel);
    root.appendChild(launcher);
    document.body.appendChild(root);

    ui = {
      root: root, launcher: launcher, badge: badge, panel: panel, shopName: shopName, status: status,
      closeBtn: closeBtn, messages: messages, typing: typing, form: footer, input: input,
      counter: counter, send: send,
    };

    launcher.addEventListener("click", function () { toggle(); });
    closeBtn.addEventListener("click", function () { close(); });
    footer.addEventListener("submit", function (e) {
      e.preventDefault();
      submitInput();
    });
    input.addEventListener("keydown", function (e) {
      // Enter sends; Shift+Enter is a new line; Enter while an IME is composing picks a candidate.
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        submitInput();
      }
    });
    input.addEventListener("input", updateComposer);
    messages.addEventListener("click", onMessagesClick);
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && S.isOpen) close();
    });
    window.addEventListener("online", function () { if (S.started && !S.connected) connectNow(); });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && S.started && !S.connected && !S.ws) connectNow();
    });
    updateComposer();
    return ui;
  }

  // --- composer ----------------------------------------------------------------------------

  function updateComposer() {
    if (!ui) return;
    var text = ui.input.value;
    var n = charCount(text);
    ui.counter.textContent = n + "/" + MAX_CHARS;
    ui.counter.classList.toggle("sc-counter-limit", n >= MAX_CHARS);
    ui.counter.classList.toggle("sc-counter-over", n > MAX_CHARS);
    ui.input.classList.toggle("sc-input-over", n > MAX_CHARS);
    ui.send.disabled = !text.trim() || n > MAX_CHARS;
    ui.send.title = n > MAX_CHARS ? "一条消息最多" + MAX_CHARS + "个字" : "发送 (Enter)";
    // grow with the text, up to a few lines
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight, 120) + "px";
  }

  function submitInput() {
    var text = ui.input.value;
    if (!text.trim() || charCount(text) > MAX_CHARS) return;
    if (sendText(text, null)) {
      ui.input.value = "";
      updateComposer();
      ui.input.focus();
    }
  }

  // --- sending -----------------------------------------------------------------------------

  function newClientId() {
    return "c-" + Date.now().toString(36) + "-" + randomHex(8);
  }

  function sendText(text, title) {
    text = String(text).trim();
    if (!text || charCount(text) > MAX_CHARS || !S.conversation) return false;
    var entry = {
      client_id: newClientId(),
      text: text,
      title: title || null,
      afterId: Math.max(S.lastSeen, storedLastId()),
      at: Date.now(),
    };
    S.pending.push(entry);
    savePending();
    renderPending(entry);
    scrollToBottom(true);
    transmit(entry);
    return true;
  }

  function transmit(entry) {
    if (S.ws && S.connected && S.ws.readyState === WebSocket.OPEN) {
      try {
        S.ws.send(JSON.stringify({ type: "say", text: entry.text, client_id: entry.client_id }));
      } catch (e) {
        /* resent after reconnecting */
      }
    }
  }

  function flushPending() {
    S.pending.forEach(transmit);
  }

  // --- connection --------------------------------------------------------------------------

  function wsUrl(params) {
    var base = new URL(S.baseUrl || window.location.href);
    base.protocol = base.protocol === "https:" ? "wss:" : "ws:";
    base.pathname = "/ws/buyer";
    base.search = "";
    base.hash = "";
    Object.keys(params).forEach(function (k) { base.searchParams.set(k, params[k]); });
    return base.toString();
  }

  function setStatus(state, text) {
    if (!ui) return;
    ui.status.setAttribute("data-state", state);
    ui.status.textContent = text;
    ui.panel.setAttribute("data-connection", state);
    ui.root.setAttribute("data-connection", state);
  }

  function showOnline() {
    if (S.connected) setStatus("online", S.mode === "agent" ? "在线 · 人工客服为您服务" : "在线 · 智能客服为您服务");
  }

  function dropSocket() {
    S.gen++;
    clearTimeout(S.retryTimer);
    S.retryTimer = null;
    var ws = S.ws;
    S.ws = null;
    S.connected = false;
    if (ws) {
      try { ws.close(1000, "bye"); } catch (e) { /* already closed */ }
    }
    setTyping(false);
  }

  function connectNow() {
    S.attempts = 0;
    dropSocket();
    connect();
  }

  function scheduleRetry() {
    clearTimeout(S.retryTimer);
    var delay = Math.min(BACKOFF_MAX, BACKOFF_MIN * Math.pow(2, S.attempts));
    delay = Math.round(delay * (0.75 + Math.random() * 0.5));
    S.attempts++;
    var gen = S.gen;
    S.retryTimer = setTimeout(function () {
      if (gen === S.gen) connect();
    }, delay);
  }

  function connect() {
    if (!S.started) return;
    clearTimeout(S.retryTimer);
    S.retryTimer = null;
    var gen = ++S.gen;
    setStatus("connecting", S.attempts > 2 ? "网络不稳定，正在重连…" : "连接中…");

    var tokenPromise;
    if (!S.buyerId) tokenPromise = Promise.resolve(null);
    else if (S.getToken) tokenPromise = Promise.resolve().then(function () { return S.getToken(S.buyerId); });
    else tokenPromise = Promise.resolve(S.token);

    tokenPromise.then(
      function (token) {
        if (gen !== S.gen) return;
        if (S.buyerId && !token) throw new Error("no token");
        if (token) S.token = token;
        var params = S.buyerId ? { token: token } : { visitor: visitorId() };
        params.after = String(S.freshConversation ? 0 : S.lastSeen);
        openSocket(params, gen);
      }
    ).catch(function () {
      if (gen !== S.gen) return;
      setStatus("offline", "连接失败，正在重试…");
      scheduleRetry();
    });

    function openSocket(params, gen) {
      var ws;
      try {
        ws = new WebSocket(wsUrl(params));
      } catch (e) {
        setStatus("offline", "连接失败，正在重试…");
        scheduleRetry();
        return;
      }
      S.ws = ws;
      ws.onopen = function () {
        if (gen !== S.gen) return;
        S.connected = true;
        S.attempts = 0;
        S.freshConversation = false;
        showOnline();
        flushPending();
        refreshPendingState();
      };
      ws.onmessage = function (event) {
        if (gen !== S.gen) return;
        var msg;
        try {
          msg = JSON.parse(event.data);
        } catch (e) {
          return;
        }
        onServerMessage(msg);
      };
      ws.onclose = function () {
        if (gen !== S.gen) return;
        var wasConnected = S.connected;
        S.ws = null;
        S.connected = false;
        setTyping(false);
        refreshPendingState();
        setStatus("offline", wasConnected ? "连接已断开，正在重连…" : "连接失败，正在重试…");
        scheduleRetry();
      };
      ws.onerror = function () { /* onclose follows */ };
    }
  }

  // --- incoming ------------------------------------------------------------------------------

  function onServerMessage(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "line" && msg.line) onLine(msg.line);
    else if (msg.type === "typing") setTyping(!!msg.on);
    else if (msg.type === "error") showNotice(String(msg.message || "亲，出了点小问题，请稍后再试～"), "error");
  }

  function onLine(line) {
    var id = Number(line.id);
    if (!id || S.seen[id]) return; // de-duplicate by line id
    S.seen[id] = true;
    if (id > S.lastSeen) S.lastSeen = id;
    if (id > storedLastId()) store.set(key("lastId"), id);

    var sender = String(line.sender || "bot");
    if (sender === "buyer") {
      // the echo of something we sent: clear the oldest pending entry with that text
      var text = String(line.text || "");
      for (var i = 0; i < S.pending.length; i++) {
        var p = S.pending[i];
        if (p.text === text && id > (p.afterId || 0)) {
          S.pending.splice(i, 1);
          savePending();
          removePendingBubble(p.client_id);
          if (p.title) {
            S.titles[id] = p.title;
            saveTitles();
          }
          break;
        }
      }
    } else if (sender === "system") {
      var notice = String(line.text || "");
      if (/人工客服已接入/.test(notice)) S.mode = "agent";
      else if (/人工客服已离开/.test(notice)) S.mode = "bot";
      showOnline();
    } else {
      setTyping(false);
      if (sender === "agent" && S.mode !== "agent") {
        S.mode = "agent";
        showOnline();
      }
    }

    var node = renderLine(line);
    if (node) insertLine(node, id);

    if (sender !== "buyer" && id > S.lastRead) {
      if (S.isOpen && document.visibilityState !== "hidden") markRead();
      else {
        S.unread++;
        updateBadge();
      }
    } else if (S.isOpen) {
      markRead();
    }
  }

  function setTyping(on) {
    S.typing = on;
    if (!ui) return;
    ui.typing.hidden = !on;
    if (on) scrollToBottom(false);
  }

  // --- rendering -----------------------------------------------------------------------------

  function senderLabel(sender, line) {
    if (sender === "agent") return "人工客服";
    if (sender === "bot") return "智能客服";
    return null;
  }

  function timeOf(line) {
    var created = String(line.created_at || "");
    var m = /T(\d{2}:\d{2})/.exec(created);
    return m ? m[1] : "";
  }

  function renderLine(line) {
    var sender = ["buyer", "bot", "agent", "system"].indexOf(line.sender) >= 0 ? line.sender : "bot";
    var id = Number(line.id);
    var text = typeof line.text === "string" ? line.text : "";
    var extra = line.extra && typeof line.extra === "object" ? line.extra : {};
    var custom = extra.custom && typeof extra.custom === "object" ? extra.custom : {};
    var card = custom.order_card && typeof custom.order_card === "object" ? custom.order_card : null;
    var buttons = Array.isArray(extra.buttons) ? extra.buttons : [];

    var node = el("div", {
      className: "msg msg-" + sender,
      "data-sender": sender,
      "data-line-id": String(id),
      title: line.created_at ? String(line.created_at).replace("T", " ") : null,
    });

    if (sender === "system") {
      node.appendChild(el("span", { className: "msg-notice" }, text));
      return node;
    }

    if (sender === "buyer") {
      var shown = text;
      if (S.titles[id]) shown = S.titles[id];
      else if (PAYLOAD_RE.test(text.trim())) shown = "（已选择）";
      node.appendChild(el("div", { className: "msg-bubble" }, shown));
      var meta = el("div", { className: "msg-meta" }, timeOf(line));
      node.appendChild(meta);
      return node;
    }

    // bot / agent
    if (!text && !card && !buttons.length) return null; // nothing to show (e.g. an unsupported attachment)
    var label = senderLabel(sender, line);
    if (label) {
      node.appendChild(el("div", { className: "msg-label" + (sender === "agent" ? " msg-label-agent" : "") }, label));
    }
    if (text) node.appendChild(el("div", { className: "msg-bubble" }, text));
    if (card) node.appendChild(renderOrderCard(card));
    if (buttons.length) {
      var row = el("div", { className: "chat-buttons", role: "group", "aria-label": "可选项" });
      buttons.forEach(function (b) {
        if (!b || typeof b !== "object") return;
        var title = String(b.title || b.payload || "");
        var payload = String(b.payload || b.title || "");
        if (!payload) return;
        var chip = el("button", { type: "button", className: "chat-button", "data-payload": payload }, title);
        row.appendChild(chip);
      });
      if (row.childNodes.length) node.appendChild(row);
    }
    var t = timeOf(line);
    if (t) node.appendChild(el("div", { className: "msg-meta" }, t));
    return node;
  }

  function renderOrderCard(card) {
    var box = el("div", { className: "order-card", "data-order-id": card.order_id ? String(card.order_id) : null });
    var head = el("div", { className: "order-card-head" });
    head.appendChild(el("span", { className: "order-card-title" }, "订单 " + String(card.order_id || "")));
    if (card.status) head.appendChild(el("span", { className: "order-card-status" }, String(card.status)));
    box.appendChild(head);

    var items = Array.isArray(card.items) ? card.items : card.items ? [card.items] : [];
    if (items.length) {
      var list = el("ul", { className: "order-card-items" });
      items.forEach(function (item) {
        var text = typeof item === "object" && item !== null
          ? [item.name, item.color, item.quantity ? "×" + item.quantity : null].filter(Boolean).join(" ")
          : String(item);
        list.appendChild(el("li", { className: "order-card-item" }, text));
      });
      box.appendChild(list);
    }

    var logistics = el("div", { className: "order-card-logistics" });
    if (card.courier) {
      var row = el("div", { className: "order-card-courier" });
      row.appendChild(el("span", { className: "order-card-key" }, "物流"));
      row.appendChild(el("span", { className: "order-card-value" }, String(card.courier)));
      if (card.tracking_number) {
        row.appendChild(el("span", { className: "order-card-tracking" }, String(card.tracking_number)));
      }
      logistics.appendChild(row);
      if (card.latest_event) {
        var ev = el("div", { className: "order-card-event" });
        ev.appendChild(el("span", { className: "order-card-key" }, "最新"));
        ev.appendChild(el("span", { className: "order-card-value" }, String(card.latest_event)));
        logistics.appendChild(ev);
      }
    } else {
      var none = el("div", { className: "order-card-courier order-card-unshipped" });
      none.appendChild(el("span", { className: "order-card-key" }, "物流"));
      none.appendChild(el("span", { className: "order-card-value" }, "暂未发货"));
      logistics.appendChild(none);
    }
    box.appendChild(logistics);
    return box;
  }

  function renderPending(entry) {
    if (!ui) return;
    var node = el("div", {
      className: "msg msg-buyer msg-pending",
      "data-sender": "buyer",
      "data-pending": "true",
      "data-client-id": entry.client_id,
    });
    node.appendChild(el("div", { className: "msg-bubble" }, entry.title || entry.text));
    node.appendChild(el("div", { className: "msg-meta msg-pending-state" }, pendingLabel()));
    ui.messages.appendChild(node); // pending bubbles always stay at the bottom
  }

  function pendingLabel() {
    return S.connected ? "发送中…" : "等待网络，连接后自动发送";
  }

  function refreshPendingState() {
    if (!ui) return;
    var label = pendingLabel();
    ui.messages.querySelectorAll(".msg-pending .msg-pending-state").forEach(function (n) {
      n.textContent = label;
    });
  }

  function removePendingBubble(clientId) {
    if (!ui) return;
    var nodes = ui.messages.querySelectorAll(".msg-pending");
    for (var i = 0; i < nodes.length; i++) {
      if (nodes[i].getAttribute("data-client-id") === clientId) {
        nodes[i].remove();
        return;
      }
    }
  }

  function insertLine(node, id) {
    if (!ui) return;
    var stick = isNearBottom();
    var children = ui.messages.children;
    var before = null;
    for (var i = children.length - 1; i >= 0; i--) {
      var child = children[i];
      if (child.classList.contains("msg-pending")) {
        before = child;
        continue;
      }
      var other = Number(child.getAttribute("data-line-id"));
      if (other && other > id) {
        before = child;
        continue;
      }
      break;
    }
    ui.messages.insertBefore(node, before);
    scrollToBottom(stick || node.getAttribute("data-sender") === "buyer");
  }

  function showNotice(text, kind) {
    if (!ui) return;
    var node = el("div", { className: "sc-notice sc-notice-" + (kind || "info"), role: "status" });
    node.appendChild(el("span", null, text));
    var firstPending = ui.messages.querySelector(".msg-pending");
    ui.messages.insertBefore(node, firstPending);
    scrollToBottom(true);
  }

  function renderGreeting() {
    if (!ui || S.greeted) return;
    S.greeted = true;
    var node = el("div", { className: "msg msg-bot msg-greeting", "data-sender": "bot", "data-local": "greeting" });
    node.appendChild(el("div", { className: "msg-label" }, "智能客服"));
    node.appendChild(el("div", { className: "msg-bubble" }, greetingText()));
    ui.messages.insertBefore(node, ui.messages.firstChild);
  }

  function greetingText() {
    return "亲，欢迎光临" + (S.shopName || "本店") + "～有什么可以帮您？";
  }

  function isNearBottom() {
    var m = ui.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  function scrollToBottom(force) {
    if (!ui) return;
    if (!force && !isNearBottom()) return;
    var m = ui.messages;
    requestAnimationFrame(function () { m.scrollTop = m.scrollHeight; });
  }

  function onMessagesClick(e) {
    var target = e.target;
    var chip = target && target.closest ? target.closest(".chat-button") : null;
    if (!chip || !ui.messages.contains(chip)) return;
    var payload = chip.getAttribute("data-payload") || "";
    var title = chip.textContent || "";
    if (!payload) return;
    if (sendText(payload, title)) {
      var group = chip.parentNode;
      group.querySelectorAll(".chat-button").forEach(function (b) { b.classList.remove("chat-button-chosen"); });
      chip.classList.add("chat-button-chosen");
    }
  }

  // --- open / close / unread ---------------------------------------------------------------

  function markRead() {
    if (S.lastSeen > S.lastRead) {
      S.lastRead = S.lastSeen;
      store.set(key("lastRead"), S.lastRead);
    }
    S.unread = 0;
    updateBadge();
  }

  function updateBadge() {
    if (!ui) return;
    ui.badge.hidden = S.unread <= 0;
    ui.badge.textContent = S.unread > 99 ? "99+" : String(S.unread);
  }

  function open() {
    mount();
    S.isOpen = true;
    ui.panel.hidden = false;
    ui.root.classList.add("sc-open");
    document.documentElement.classList.add("sc-chat-open");
    ui.launcher.setAttribute("aria-expanded", "true");
    ui.launcher.setAttribute("aria-label", "收起客服窗口");
    renderGreeting();
    markRead();
    scrollToBottom(true);
    if (!window.matchMedia || !window.matchMedia("(max-width: 520px)").matches) {
      setTimeout(function () { ui.input.focus(); }, 50);
    }
  }

  function close() {
    if (!ui) return;
    S.isOpen = false;
    ui.panel.hidden = true;
    ui.root.classList.remove("sc-open");
    document.documentElement.classList.remove("sc-chat-open");
    ui.launcher.setAttribute("aria-expanded", "false");
    ui.launcher.setAttribute("aria-label", "联系客服");
  }

  function toggle() {
    if (S.isOpen) close();
    else open();
  }

  // --- identity ------------------------------------------------------------------------------

  function switchTo(buyerId, token) {
    dropSocket();
    S.buyerId = buyerId || null;
    S.token = token || null;
    S.conversation = conversationFor(S.buyerId);
    loadConversation();
    if (ui) {
      ui.messages.textContent = "";
      updateBadge();
      S.pending.forEach(renderPending);
      if (S.isOpen) {
        renderGreeting();
        markRead();
      }
    }
    S.attempts = 0;
    connect();
  }

  function setShopName(name) {
    S.shopName = String(name || "");
    if (!ui) return;
    ui.shopName.textContent = S.shopName || "在线客服";
    var bubble = ui.messages.querySelector(".msg-greeting .msg-bubble");
    if (bubble) bubble.textContent = greetingText();
  }

  function start(options) {
    options = options || {};
    mount();
    if (options.baseUrl) S.baseUrl = options.baseUrl;
    if (typeof options.getToken === "function") S.getToken = options.getToken;
    if (options.shopName !== undefined) setShopName(options.shopName);
    S.started = true;
    switchTo(options.buyerId || null, options.token || null);
    if (options.open) open();
  }

  function reconnect(identity) {
    if (!S.started) {
      start(identity || {});
      return;
    }
    if (identity && typeof identity === "object" && "buyerId" in identity) {
      var same = (identity.buyerId || null) === S.buyerId;
      if (!same) {
        switchTo(identity.buyerId || null, identity.token || null);
        return;
      }
      if (identity.token) S.token = identity.token;
    }
    connectNow();
  }

  function snapshot() {
    return {
      started: S.started,
      connected: S.connected,
      conversation: S.conversation,
      buyerId: S.buyerId,
      lastSeen: S.lastSeen,
      pending: S.pending.map(function (p) { return { client_id: p.client_id, text: p.text, title: p.title }; }),
      open: S.isOpen,
      typing: S.typing,
      unread: S.unread,
    };
  }

  window.shopWidget = {
    start: start,
    open: open,
    close: close,
    toggle: toggle,
    reconnect: reconnect,
    setShopName: setShopName,
    send: function (text) { return sendText(text, null); },
    state: snapshot,
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mount);
  else mount();
})();
