/* 客服工作台 — the agents' console.
 *
 * Plain JavaScript, no build step. Everything that comes from the server or from
 * buyers is put on the page with textContent / text nodes only (never innerHTML).
 * The DOM helpers, the API client and the sign-in form are console-kit.js's.
 *
 * Data flow: the JSON API (cookie session, same origin) is the source of truth;
 * the /ws/agent socket only says "something changed" and we refetch. /api/tickets
 * is also polled every 10 s in case the socket is down.
 */
(function () {
  "use strict";

  var MAX_CHARS = 500;
  var POLL_MS = 10000;
  var BACKOFF_MIN_MS = 1000;
  var BACKOFF_MAX_MS = 30000;

  var SENDER_LABEL = { buyer: "买家", bot: "机器人", agent: "客服", system: "系统" };
  var STATUS_LABEL = { pending: "待接入", open: "处理中", resolved: "已结束" };
  var SLOT_LABEL = {
    order_id: "订单号", product: "商品", color: "颜色", size: "尺码", province: "省份",
    after_sale_kind: "售后类型", after_sale_reason: "售后原因", phone_last4: "手机尾号",
  };

  var state = {
    me: null,
    tickets: [],
    knownTicketIds: null, // ids seen in the queue, to spot new arrivals
    unread: new Set(), // tickets with buyer lines the agent has not looked at
    currentId: null,
    detail: null,
    detailKey: "", // JSON of the last rendered detail, to skip identical re-renders
    detailSeq: 0, // guards against out-of-order responses when switching tickets
    queueSeq: 0,
    agents: [],
    suggestions: [],
    drafts: new Map(), // ticket id -> unsent reply text
    ws: null,
    wsBackoff: BACKOFF_MIN_MS,
    wsTimer: null,
    pollTimer: null,
    sending: false,
    busy: false, // claim / resolve / transfer in flight
    noticeTimer: null,
    marked: new Set(), // bot lines this agent marked as misunderstood
  };

  var kit = window.ConsoleKit;
  var $ = kit.$, el = kit.el, clear = kit.clear, str = kit.str;
  var LOGIN_PATH = "/api/agent/login";
  var api = kit.createApi(LOGIN_PATH, sessionLost, {
    404: "工单不存在或已被删除",
    409: "操作冲突，工单状态已变化，请刷新后重试",
  });
  var showLogin = kit.showLogin;

  // --- messages ----------------------------------------------------------------

  function showError(message) {
    var box = $("console-error");
    clear(box);
    box.appendChild(el("span", { className: "msg", text: message }));
    var close = el("button", { type: "button", className: "close", title: "关闭", text: "×" });
    close.setAttribute("aria-label", "关闭提示");
    close.addEventListener("click", hideError);
    box.appendChild(close);
    box.hidden = false;
  }

  function hideError() {
    var box = $("console-error");
    box.hidden = true;
    clear(box);
  }

  function showNotice(message) {
    var box = $("console-notice");
    box.textContent = message;
    box.hidden = false;
    clearTimeout(state.noticeTimer);
    state.noticeTimer = setTimeout(function () { box.hidden = true; }, 5000);
  }

  // --- login / logout ----------------------------------------------------------

  function sessionLost() {
    if (!state.me) return; // already on the login form
    stopLive();
    resetWorkspace();
    showLogin("登录已过期，请重新登录");
  }

  function onLogout() {
    var done = function () {
      stopLive();
      resetWorkspace();
      showLogin("");
    };
    api("POST", "/api/agent/logout").then(done, done);
  }

  function enterWorkspace(username) {
    state.me = username;
    kit.showWorkspace(username);
    hideError();
    renderConversation();
    loadAgents();
    loadSuggestions();
    refreshQueue();
    connectSocket();
    clearInterval(state.pollTimer);
    state.pollTimer = setInterval(poll, POLL_MS);
  }

  function resetWorkspace() {
    state.me = null;
    state.tickets = [];
    state.knownTicketIds = null;
    state.unread.clear();
    state.currentId = null;
    state.detail = null;
    state.detailKey = "";
    state.drafts.clear();
    state.marked.clear();
    $("reply-input").value = "";
    renderQueue();
    renderConversation();
    renderOrders();
    hideError();
    document.title = "客服工作台";
  }

  // --- live updates: socket with backoff + polling fallback --------------------

  function connectSocket() {
    clearTimeout(state.wsTimer);
    if (!state.me) return;
    var scheme = location.protocol === "https:" ? "wss:" : "ws:";
    var ws;
    try {
      ws = new WebSocket(scheme + "//" + location.host + "/ws/agent");
    } catch (e) {
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    setSocketState("connecting");
    ws.onopen = function () {
      if (state.ws !== ws) return;
      state.wsBackoff = BACKOFF_MIN_MS;
      setSocketState("open");
      // Catch up on whatever happened while we were disconnected.
      refreshQueue();
      if (state.currentId !== null) loadTicket(state.currentId);
    };
    ws.onmessage = function (event) {
      if (state.ws !== ws) return;
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      onSocketMessage(message);
    };
    ws.onclose = function () {
      if (state.ws !== ws) return;
      state.ws = null;
      if (!state.me) return;
      setSocketState("closed");
      scheduleReconnect();
    };
    ws.onerror = function () { /* onclose follows */ };
  }

  function scheduleReconnect() {
    clearTimeout(state.wsTimer);
    var delay = state.wsBackoff;
    state.wsBackoff = Math.min(state.wsBackoff * 2, BACKOFF_MAX_MS);
    // A little jitter so a room full of consoles does not reconnect in lockstep.
    delay = Math.round(delay * (0.8 + Math.random() * 0.4));
    state.wsTimer = setTimeout(function () {
      // If the session expired the socket can never open: the check sends us to login.
      api("GET", "/api/agent/me").then(connectSocket, function (err) {
        if (err.status !== 401) scheduleReconnect();
      });
    }, delay);
  }

  function setSocketState(kind) {
    var box = $("ws-status");
    box.dataset.state = kind;
    box.textContent = kind === "open" ? "实时连接正常" : kind === "connecting" ? "连接中…" : "连接断开，正在重连…";
  }

  function stopLive() {
    clearInterval(state.pollTimer);
    state.pollTimer = null;
    clearTimeout(state.wsTimer);
    var ws = state.ws;
    state.ws = null;
    if (ws) {
      try { ws.close(); } catch (e) { /* already closed */ }
    }
  }

  function onSocketMessage(message) {
    if (!message || typeof message !== "object") return;
    if (message.type === "queue") {
      refreshQueue();
      if (state.currentId !== null) loadTicket(state.currentId);
    } else if (message.type === "line") {
      var ticketId = Number(message.ticket);
      if (ticketId === state.currentId) {
        if (message.line) appendLine(message.line);
        loadTicket(ticketId);
      } else {
        state.unread.add(ticketId);
        renderQueue();
      }
      if (document.hidden) flashTitle();
    }
  }

  function poll() {
    if (!state.me) return;
    refreshQueue();
    // Without the socket we would miss buyers' lines: refetch the open ticket too.
    if (state.currentId !== null && (!state.ws || state.ws.readyState !== WebSocket.OPEN)) {
      loadTicket(state.currentId);
    }
  }

  function flashTitle() {
    updateTitle("【新消息】");
  }

  function updateTitle(prefix) {
    var pending = state.tickets.filter(function (t) { return t.status === "pending"; }).length;
    document.title = (prefix || "") + (pending ? "(" + pending + ") " : "") + "客服工作台";
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) updateTitle("");
  });

  // --- queue -------------------------------------------------------------------

  function refreshQueue() {
    if (!state.me) return Promise.resolve();
    var seq = ++state.queueSeq;
    return api("GET", "/api/tickets").then(function (tickets) {
      if (seq !== state.queueSeq || !state.me) return;
      state.tickets = Array.isArray(tickets) ? tickets : [];
      renderQueue();
      updateTitle("");
    }).catch(function (err) {
      if (err.status !== 401) setSocketStateIfDown();
    });
  }

  function setSocketStateIfDown() {
    if (!state.ws) setSocketState("closed");
  }

  function waitingText(minutes) {
    var m = Number(minutes) || 0;
    if (m < 1) return "刚刚";
    if (m < 60) return m + " 分钟";
    var h = Math.floor(m / 60);
    if (h < 24) return h + " 小时 " + (m % 60) + " 分钟";
    return Math.floor(h / 24) + " 天 " + (h % 24) + " 小时";
  }

  function renderQueue() {
    var list = $("queue");
    var fresh = new Set();
    var known = state.knownTicketIds;
    state.tickets.forEach(function (t) {
      if (known && !known.has(t.id)) fresh.add(t.id);
    });
    state.knownTicketIds = new Set(state.tickets.map(function (t) { return t.id; }));
    // Forget unread marks of tickets that left the queue.
    state.unread.forEach(function (id) { if (!state.knownTicketIds.has(id)) state.unread.delete(id); });

    // Re-rendering replaces the items: keep keyboard focus on the same ticket.
    var focused = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest("#queue .ticket") : null;
    var focusedId = focused ? Number(focused.dataset.ticketId) : null;
    clear(list);
    state.tickets.forEach(function (t) {
      var mine = t.assigned_agent && t.assigned_agent === state.me;
      var classes = ["ticket", "status-" + str(t.status), "priority-" + str(t.priority)];
      if (Number(t.priority) === 0) classes.push("urgent");
      if (mine) classes.push("mine");
      if (t.id === state.currentId) classes.push("selected");
      if (state.unread.has(t.id)) classes.push("unread");
      if (fresh.has(t.id)) classes.push("fresh");

      var statusText;
      if (t.status === "pending") statusText = "待接入";
      else if (mine) statusText = "我正在处理";
      else statusText = "处理中 · " + str(t.assigned_agent || "未知");

      var item = el("li", { className: classes.join(" "), tabIndex: 0, dataset: { ticketId: t.id } }, [
        el("div", { className: "ticket-row" }, [
          el("span", { className: "priority-badge", title: "优先级（数字越小越紧急）", text: "P" + str(t.priority) }),
          el("span", { className: "ticket-reason", text: t.reason_label || t.reason || "转人工" }),
          state.unread.has(t.id) ? el("span", { className: "unread-dot", title: "买家有新消息", text: "新消息" }) : null,
        ]),
        el("div", { className: "ticket-row sub" }, [
          el("span", { className: "ticket-buyer", text: t.buyer_id ? "买家 " + t.buyer_id : "访客（未登录）" }),
          el("span", { className: "ticket-wait", title: "已等待", text: "等待 " + waitingText(t.waiting_minutes) }),
        ]),
        el("div", { className: "ticket-row sub" }, [
          el("span", { className: "ticket-status", text: statusText }),
          t.order_id ? el("span", { className: "ticket-order", text: "订单 " + t.order_id }) : null,
          el("span", { className: "ticket-id", text: "#" + t.id }),
        ]),
      ]);
      item.setAttribute("role", "button");
      item.setAttribute("aria-pressed", t.id === state.currentId ? "true" : "false");
      list.appendChild(item);
      if (t.id === focusedId) item.focus();
    });
    $("queue-empty").hidden = state.tickets.length > 0;
    $("queue-count").textContent = String(state.tickets.length);
  }

  function onQueueActivate(event) {
    if (event.type === "keydown" && event.key !== "Enter" && event.key !== " ") return;
    var item = event.target.closest(".ticket");
    if (!item) return;
    event.preventDefault();
    selectTicket(Number(item.dataset.ticketId));
  }

  // --- conversation ------------------------------------------------------------

  function selectTicket(id) {
    if (state.currentId === id) {
      loadTicket(id);
      return;
    }
    saveDraft();
    state.currentId = id;
    state.detail = null;
    state.detailKey = "";
    state.unread.delete(id);
    hideError();
    $("reply-input").value = state.drafts.get(id) || "";
    updateCount();
    renderQueue();
    renderConversation();
    renderOrders();
    loadTicket(id);
  }

  function saveDraft() {
    if (state.currentId === null) return;
    var text = $("reply-input").value;
    if (text) state.drafts.set(state.currentId, text);
    else state.drafts.delete(state.currentId);
  }

  function loadTicket(id) {
    var seq = ++state.detailSeq;
    return api("GET", "/api/tickets/" + encodeURIComponent(id)).then(function (detail) {
      if (seq !== state.detailSeq || state.currentId !== id || !state.me) return;
      var key = JSON.stringify(detail);
      if (key === state.detailKey) return;
      state.detail = detail;
      state.detailKey = key;
      renderConversation();
      renderOrders();
    }).catch(function (err) {
      if (err.status === 401 || seq !== state.detailSeq) return;
      showError("加载工单失败：" + err.message);
    });
  }

  function ticketOf() {
    return state.detail && state.detail.ticket ? state.detail.ticket : null;
  }

  function holding() {
    var t = ticketOf();
    return !!(t && t.status === "open" && t.assigned_agent === state.me);
  }

  function renderConversation() {
    var t = ticketOf();
    var hasTicket = state.currentId !== null;
    $("conversation-empty").hidden = hasTicket;
    $("conversation-body").hidden = !hasTicket;
    if (!hasTicket) return;

    if (!t) {
      $("ticket-reason").textContent = "加载中…";
      $("ticket-title").textContent = "#" + state.currentId;
      clear($("ticket-meta"));
      clear($("transcript"));
      clear($("context-understood"));
      clear($("context-slots"));
      $("ticket-banner").hidden = true;
      updateControls();
      return;
    }

    $("ticket-reason").textContent = t.reason_label || t.reason || "";
    $("ticket-reason").className = "reason-tag" + (Number(t.priority) === 0 ? " urgent" : "");
    $("ticket-title").textContent = "工单 #" + t.id;

    var meta = $("ticket-meta");
    clear(meta);
    var statusText = STATUS_LABEL[t.status] || str(t.status);
    if (t.status === "open") statusText += " · " + (t.assigned_agent === state.me ? "我" : str(t.assigned_agent));
    [
      ["买家", t.buyer_id || "访客（未登录）"],
      ["订单", t.order_id || "—"],
      ["优先级", "P" + str(t.priority)],
      ["状态", statusText],
      ["创建", shortTime(t.created_at)],
    ].forEach(function (pair) {
      meta.appendChild(el("span", { className: "meta-item" }, [
        el("span", { className: "meta-key", text: pair[0] }),
        el("span", { className: "meta-value", text: pair[1] }),
      ]));
    });

    var banner = $("ticket-banner");
    if (t.status === "resolved") {
      banner.textContent = "这个工单已经结束，对话已交还给智能客服。";
      banner.hidden = false;
    } else if (t.status === "open" && t.assigned_agent !== state.me) {
      banner.textContent = "该工单正由客服 " + str(t.assigned_agent) + " 处理，你只能查看。";
      banner.hidden = false;
    } else {
      banner.hidden = true;
    }

    renderContext(t.context || {});
    renderTranscript(state.detail.lines || []);
    updateControls();
  }

  function renderContext(context) {
    var list = $("context-understood");
    clear(list);
    var understood = Array.isArray(context.understood) ? context.understood : [];
    if (!understood.length) list.appendChild(el("li", { className: "empty small", text: "无" }));
    understood.forEach(function (u) {
      var entities = Array.isArray(u.entities) ? u.entities : [];
      list.appendChild(el("li", null, [
        el("span", { className: "ctx-text", text: "“" + str(u.text) + "”" }),
        el("span", { className: "intent-tag", text: intentText(u.intent, u.confidence) }),
        entities.length ? el("span", { className: "ctx-entities", text: entities.map(function (e) {
          return str(e.entity) + "=" + str(e.value);
        }).join("，") }) : null,
      ]));
    });

    var slots = $("context-slots");
    clear(slots);
    var keys = context.slots && typeof context.slots === "object" ? Object.keys(context.slots) : [];
    if (!keys.length) slots.appendChild(el("dd", { className: "empty small", text: "无" }));
    keys.forEach(function (k) {
      var v = context.slots[k];
      slots.appendChild(el("dt", { text: SLOT_LABEL[k] ? SLOT_LABEL[k] + "（" + k + "）" : k }));
      slots.appendChild(el("dd", { text: typeof v === "object" ? JSON.stringify(v) : str(v) }));
    });
  }

  function intentText(intent, confidence) {
    if (!intent) return "未识别";
    var c = Number(confidence);
    return str(intent) + (confidence === null || confidence === undefined || isNaN(c) ? "" : " " + c.toFixed(2));
  }

  function shortTime(iso) {
    var m = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)/.exec(str(iso));
    return m ? m[2] + "-" + m[3] + " " + m[4] + ":" + m[5] : str(iso);
  }

  function nearBottom(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 60;
  }

  function renderTranscript(lines) {
    var box = $("transcript");
    var stick = nearBottom(box) || box.dataset.ticket !== String(state.currentId);
    clear(box);
    box.dataset.ticket = String(state.currentId);
    if (!lines.length) box.appendChild(el("li", { className: "empty", text: "暂无对话记录" }));
    lines.forEach(function (line) { box.appendChild(lineNode(line)); });
    if (stick) box.scrollTop = box.scrollHeight;
  }

  /** Add one line (from the socket or our own POST) unless it is already shown. */
  function appendLine(line) {
    if (!line || line.id === undefined || !state.detail) return;
    var lines = state.detail.lines || (state.detail.lines = []);
    if (lines.some(function (l) { return l.id === line.id; })) return;
    lines.push(line);
    lines.sort(function (a, b) { return a.id - b.id; });
    state.detailKey = ""; // the next fetch will re-render whatever it brings
    var box = $("transcript");
    var stick = nearBottom(box) || line.sender === "agent";
    var empty = box.querySelector(".empty");
    if (empty) box.removeChild(empty);
    var node = lineNode(line);
    var after = null;
    Array.prototype.some.call(box.children, function (child) {
      if (Number(child.dataset.lineId) > line.id) { after = child; return true; }
      return false;
    });
    box.insertBefore(node, after);
    if (stick) box.scrollTop = box.scrollHeight;
  }

  function lineNode(line) {
    var sender = str(line.sender);
    var who = SENDER_LABEL[sender] || sender;
    if (sender === "agent" && line.agent) who += " " + str(line.agent);
    else if (sender === "system" && line.agent) who += " · " + str(line.agent);
    var classes = ["line", "sender-" + sender];
    if (sender === "agent" && line.agent === state.me) classes.push("mine");

    var head = el("div", { className: "line-head" }, [
      el("span", { className: "line-sender", text: who }),
      el("time", { className: "line-time", dateTime: str(line.created_at), text: shortTime(line.created_at) }),
      sender === "bot" && line.intent
        ? el("span", { className: "intent-tag", title: "机器人识别的买家意图与置信度", text: intentText(line.intent, line.confidence) })
        : null,
      sender === "bot" && line.id !== undefined ? misunderstoodButton(line) : null,
    ]);
    var body = el("div", { className: "line-body" });
    var clicked = sender === "buyer" ? buttonTitleFor(line) : "";
    if (clicked) {
      // The buyer clicked one of the bot's buttons: show its title, keep the payload as a hint.
      body.appendChild(el("div", { className: "line-text", title: str(line.text) }, [
        el("span", { className: "muted", text: "[点击按钮] " }), clicked,
      ]));
    } else if (line.text) {
      body.appendChild(el("div", { className: "line-text", text: line.text }));
    }

    var extra = line.extra && typeof line.extra === "object" ? line.extra : {};
    var custom = extra.custom && typeof extra.custom === "object" ? extra.custom : null;
    if (custom && custom.order_card) body.appendChild(orderCardNode(custom.order_card));
    else if (custom) body.appendChild(el("pre", { className: "line-custom", text: JSON.stringify(custom, null, 2) }));
    if (Array.isArray(extra.buttons) && extra.buttons.length) {
      body.appendChild(el("div", { className: "line-buttons" }, [el("span", { className: "muted", text: "按钮：" })].concat(
        extra.buttons.map(function (b) {
          var title = b && typeof b === "object" ? str(b.title || b.payload) : str(b);
          return el("span", { className: "chip", title: b && b.payload ? str(b.payload) : "", text: title });
        })
      )));
    }
    if (extra.image) body.appendChild(el("div", { className: "muted", text: "[图片] " + str(extra.image) }));

    return el("li", { className: classes.join(" "), dataset: { lineId: line.id } }, [head, body]);
  }

  /** "标记为误解": sends a bot answer to the trainers' inbox; "已标记" once done. */
  function misunderstoodButton(line) {
    var marked = state.marked.has(line.id) || !!(line.extra && line.extra.misunderstood);
    var button = el("button", {
      type: "button", className: "mark-misunderstood" + (marked ? " marked" : ""),
      text: marked ? "已标记" : "标记为误解", disabled: marked,
      title: marked ? "已交给训练师处理" : "机器人没听懂买家：交给训练师改进", dataset: { markLine: line.id },
    });
    return button;
  }

  function onMarkMisunderstood(event) {
    var button = event.target.closest(".mark-misunderstood");
    if (!button || button.disabled) return;
    var id = Number(button.dataset.markLine);
    button.disabled = true;
    button.textContent = "标记中…";
    api("POST", "/api/lines/" + encodeURIComponent(id) + "/misunderstood").then(function () {
      state.marked.add(id);
      button.textContent = "已标记";
      button.title = "已交给训练师处理";
      button.classList.remove("failed");
      button.classList.add("marked");
      showNotice("已标记为误解，训练师会在“待处理”中看到这句话");
    }).catch(function (err) {
      button.disabled = false;
      button.textContent = "标记为误解";
      button.classList.add("failed");
      button.title = "标记失败：" + err.message;
      if (err.status !== 401) showError("标记失败：" + err.message);
    });
  }

  /** The title of the bot button whose payload this buyer line is, if any. */
  function buttonTitleFor(line) {
    var text = str(line.text);
    if (text.charAt(0) !== "/" || !state.detail || !Array.isArray(state.detail.lines)) return "";
    var title = "";
    state.detail.lines.some(function (l) {
      if (l.id >= line.id) return true;
      var buttons = l.extra && Array.isArray(l.extra.buttons) ? l.extra.buttons : [];
      buttons.forEach(function (b) {
        if (b && typeof b === "object" && b.payload === text) title = str(b.title);
      });
      return false;
    });
    return title;
  }

  function orderCardNode(card) {
    var rows = [
      ["订单号", card.order_id],
      ["商品", Array.isArray(card.items) ? card.items.join("、") : card.items],
      ["状态", card.status],
      ["物流", card.courier ? str(card.courier) + " " + str(card.tracking_number) : "暂未发货"],
      ["最新", card.latest_event],
    ];
    return el("table", { className: "order-card" }, [
      el("tbody", null, rows.filter(function (r) { return r[1] !== null && r[1] !== undefined && r[1] !== ""; })
        .map(function (r) {
          return el("tr", null, [el("th", { text: r[0] }), el("td", { text: str(r[1]) })]);
        })),
    ]);
  }

  function updateControls() {
    var t = ticketOf();
    var mine = holding();
    var pending = !!(t && t.status === "pending");
    var busy = state.busy;
    $("claim").disabled = !pending || busy;
    $("claim").hidden = !!(t && t.status !== "pending");
    $("resolve").disabled = !mine || busy;
    $("transfer").disabled = !mine || busy;
    $("transfer-send").disabled = !mine || busy || !$("transfer").value;
    $("reply-input").disabled = !mine;
    $("reply-send").disabled = !mine || state.sending || !$("reply-input").value.trim() ||
      $("reply-input").value.length > MAX_CHARS;
    Array.prototype.forEach.call(document.querySelectorAll("#suggestions .suggestion"), function (b) {
      b.disabled = !mine;
    });
    var hint = "";
    if (!t) hint = "";
    else if (pending) hint = "接手后才能回复买家";
    else if (t.status === "resolved") hint = "工单已结束";
    else if (!mine) hint = "由 " + str(t.assigned_agent) + " 处理中";
    $("hold-hint").textContent = hint;
    $("reply-input").placeholder = mine
      ? "输入回复（Enter 发送，Shift+Enter 换行）"
      : "接手工单后才能回复买家";
    renderTransferOptions();
  }

  function updateCount() {
    var n = $("reply-input").value.length;
    var box = $("reply-count");
    box.textContent = n + "/" + MAX_CHARS;
    box.classList.toggle("over", n > MAX_CHARS);
  }

  // --- actions -----------------------------------------------------------------

  function withBusy(promise) {
    state.busy = true;
    updateControls();
    return promise.then(function (v) {
      state.busy = false;
      updateControls();
      return v;
    }, function (err) {
      state.busy = false;
      updateControls();
      throw err;
    });
  }

  function afterChange(id) {
    refreshQueue();
    if (state.currentId === id) loadTicket(id);
  }

  function onClaim() {
    var id = state.currentId;
    if (id === null) return;
    hideError();
    withBusy(api("POST", "/api/tickets/" + id + "/claim")).then(function () {
      showNotice("已接手工单 #" + id + "，买家已收到“人工客服已接入”");
      afterChange(id);
      $("reply-input").focus();
    }).catch(function (err) {
      if (err.status === 401) return;
      showError(err.message);
      afterChange(id);
    });
  }

  function onSend() {
    var id = state.currentId;
    var input = $("reply-input");
    var text = input.value.trim();
    if (id === null || !text || state.sending) return;
    if (text.length > MAX_CHARS) {
      showError("一条消息最多 " + MAX_CHARS + " 个字，请分几次发送");
      return;
    }
    state.sending = true;
    updateControls();
    hideError();
    api("POST", "/api/tickets/" + id + "/messages", { text: text }).then(function (line) {
      state.sending = false;
      if (state.currentId === id) {
        // Only clear what we sent; the agent may have kept typing meanwhile.
        if (input.value.trim() === text) input.value = "";
        appendLine(line);
      }
      state.drafts.delete(id);
      updateCount();
      updateControls();
      input.focus();
    }).catch(function (err) {
      state.sending = false;
      updateControls();
      if (err.status === 401) return;
      showError("发送失败：" + err.message);
      if (err.status === 409) afterChange(id);
    });
  }

  function onResolve() {
    var id = state.currentId;
    if (id === null) return;
    hideError();
    withBusy(api("POST", "/api/tickets/" + id + "/resolve")).then(function (data) {
      if (data && data.resumed === false) {
        showError("工单 #" + id + " 已结束，但智能客服暂时没有恢复应答，请留意该买家");
      } else {
        showNotice("工单 #" + id + " 已结束，对话已交还给智能客服");
      }
      state.drafts.delete(id);
      if (state.currentId === id) $("reply-input").value = "";
      afterChange(id);
    }).catch(function (err) {
      if (err.status === 401) return;
      showError(err.message);
      afterChange(id);
    });
  }

  function onTransfer() {
    var id = state.currentId;
    var to = $("transfer").value;
    if (id === null || !to) return;
    hideError();
    withBusy(api("POST", "/api/tickets/" + id + "/transfer", { to: to })).then(function () {
      showNotice("工单 #" + id + " 已转交给 " + to);
      $("transfer").value = "";
      afterChange(id);
    }).catch(function (err) {
      if (err.status === 401) return;
      showError("转交失败：" + err.message);
      afterChange(id);
    });
  }

  // --- agents & suggested replies ----------------------------------------------

  function loadAgents() {
    api("GET", "/api/agents").then(function (names) {
      state.agents = Array.isArray(names) ? names.map(str) : [];
      renderTransferOptions();
    }).catch(function () { /* transfer just stays empty */ });
  }

  function renderTransferOptions() {
    var select = $("transfer");
    var wanted = state.agents.filter(function (n) { return n !== state.me; });
    var current = Array.prototype.slice.call(select.options, 1).map(function (o) { return o.value; });
    if (current.join("\n") === wanted.join("\n")) return;
    var chosen = select.value;
    while (select.options.length > 1) select.remove(1);
    wanted.forEach(function (name) { select.appendChild(el("option", { value: name, text: name })); });
    select.value = wanted.indexOf(chosen) >= 0 ? chosen : "";
  }

  function loadSuggestions() {
    api("GET", "/api/suggestions").then(function (items) {
      state.suggestions = Array.isArray(items) ? items : [];
      var box = $("suggestions");
      clear(box);
      state.suggestions.forEach(function (s, i) {
        box.appendChild(el("button", {
          type: "button", className: "suggestion", title: str(s.text), text: str(s.title),
          dataset: { index: i },
        }));
      });
      if (!state.suggestions.length) box.appendChild(el("span", { className: "muted", text: "暂无" }));
      updateControls();
    }).catch(function () { /* optional */ });
  }

  function onSuggestion(event) {
    var button = event.target.closest(".suggestion");
    if (!button || button.disabled) return;
    var s = state.suggestions[Number(button.dataset.index)];
    if (!s) return;
    var box = $("reply-input");
    box.value = str(s.text).slice(0, MAX_CHARS);
    updateCount();
    updateControls();
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  }

  // --- buyer's orders ----------------------------------------------------------

  function renderOrders() {
    var box = $("buyer-orders");
    clear(box);
    var t = ticketOf();
    $("buyer-id").textContent = t && t.buyer_id ? t.buyer_id : "";
    if (state.currentId === null) {
      box.appendChild(el("p", { className: "empty", text: "选择工单后显示买家的订单" }));
      return;
    }
    if (!t) {
      box.appendChild(el("p", { className: "empty", text: "加载中…" }));
      return;
    }
    if (!t.buyer_id) {
      box.appendChild(el("p", { className: "empty", text: "访客未登录，没有订单信息" }));
      return;
    }
    var orders = Array.isArray(state.detail.orders) ? state.detail.orders : [];
    if (!orders.length) {
      box.appendChild(el("p", { className: "empty", text: "该买家近期没有订单" }));
      return;
    }
    orders.forEach(function (o) { box.appendChild(orderNode(o, o.id === t.order_id)); });
  }

  function orderNode(o, related) {
    var items = Array.isArray(o.items) ? o.items : [];
    var events = Array.isArray(o.events) ? o.events.slice().reverse() : []; // newest first
    var card = el("section", { className: "order" + (related ? " related" : ""), dataset: { orderId: str(o.id) } }, [
      el("div", { className: "order-head" }, [
        el("span", { className: "order-id", text: "订单 " + str(o.id) }),
        el("span", { className: "order-status", text: str(o.status) }),
      ]),
      related ? el("div", { className: "related-tag", text: "本工单相关订单" }) : null,
      el("ul", { className: "order-items" }, items.map(function (i) { return el("li", { text: str(i) }); })),
      el("div", { className: "order-row" }, [
        el("span", { className: "k", text: "金额" }), el("span", { text: "¥" + str(o.total) }),
      ]),
      el("div", { className: "order-row" }, [
        el("span", { className: "k", text: "物流" }),
        el("span", { text: o.courier ? str(o.courier) + "  " + str(o.tracking_number || "") : "暂未发货" }),
      ]),
    ]);
    if (events.length) {
      card.appendChild(el("ol", { className: "timeline", title: "物流轨迹（最新在上）" }, events.map(function (e, i) {
        var at = Array.isArray(e) ? e[0] : "";
        var text = Array.isArray(e) ? e[1] : e;
        return el("li", { className: i === 0 ? "latest" : "" }, [
          el("span", { className: "tl-time", text: str(at) }),
          el("span", { className: "tl-text", text: str(text) }),
        ]);
      })));
    }
    var a = o.after_sale;
    if (a && typeof a === "object") {
      card.appendChild(el("div", { className: "after-sale" }, [
        el("span", { className: "k", text: "售后" }),
        el("span", { text: [a.kind, a.reason, a.status].filter(Boolean).map(str).join(" · ") + "（#" + str(a.id) + "）" }),
      ]));
    }
    return card;
  }

  // --- wiring ------------------------------------------------------------------

  function init() {
    kit.bindLoginForm(api, LOGIN_PATH, enterWorkspace);
    $("logout").addEventListener("click", onLogout);
    $("queue").addEventListener("click", onQueueActivate);
    $("queue").addEventListener("keydown", onQueueActivate);
    $("claim").addEventListener("click", onClaim);
    $("resolve").addEventListener("click", onResolve);
    $("transfer").addEventListener("change", updateControls);
    $("transfer-send").addEventListener("click", onTransfer);
    $("reply-send").addEventListener("click", onSend);
    $("suggestions").addEventListener("click", onSuggestion);
    $("transcript").addEventListener("click", onMarkMisunderstood);
    var box = $("reply-input");
    box.addEventListener("input", function () { updateCount(); updateControls(); });
    box.addEventListener("keydown", function (event) {
      // Enter sends; Shift+Enter is a new line; never send while an IME is composing.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        onSend();
      }
    });
    updateCount();
    renderConversation();

    api("GET", "/api/agent/me").then(function (data) {
      enterWorkspace(data.username);
    }).catch(function (err) {
      showLogin(err.status === 401 ? "" : err.message);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
