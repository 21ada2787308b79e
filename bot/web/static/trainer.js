/* 训练工作台 — the trainers' console.
 *
 * Plain JavaScript, no build step. Buyers' messages are untrusted: everything that
 * comes from the server goes on the page through textContent / text nodes only
 * (never innerHTML). The DOM helpers, the API client and the sign-in form are
 * console-kit.js's.
 *
 * Four tabs over the JSON API in /api/trainer/* (cookie session, same origin):
 * the inbox of misunderstood messages (one by one, or in bulk from the keyboard, with
 * agreement between trainers), the training examples, retraining with its
 * evaluation, and the model versions. A retraining job is polled every second
 * while it runs.
 */
(function () {
  "use strict";

  var POLL_MS = 1000;
  var SEARCH_DELAY_MS = 300;
  var CHANGE_EPSILON = 0.0005; // any difference visible at three decimals (one test message is ~0.002)

  var TABS = ["inbox", "examples", "retrain", "models"];
  var SPEAKER_LABEL = { buyer: "买家", bot: "机器人", agent: "客服", system: "系统" };
  var OUTCOME_LABEL = { activated: "已上线", refused: "未通过把关", failed: "训练失败", unchanged: "模型无变化" };
  var PHASE_LABEL = {
    validate: "校验数据", train: "训练模型", evaluate: "评估", gate: "对比把关", activate: "上线", done: "完成",
  };
  var ACTION_DONE = { label: "已加入训练集", test: "已加入测试集", dismiss: "已忽略" };

  var state = {
    me: null,
    tab: "inbox",
    intents: [], // [{name, label, train, test}] in domain order
    inbox: [],
    inboxSeq: 0,
    inboxBusy: new Set(), // item ids with a decision in flight
    inboxDone: new Set(), // item ids decided here: a slower, older listing must not bring them back
    examples: { intent: "", test: false, search: "", list: [], seq: 0 },
    searchTimer: null,
    job: null,
    jobTimer: null,
    jobSeq: 0,
    jobLogKey: "",
    jobShownState: "", // "id:state" last drawn, to fold the log once when a job finishes
    resultKey: "",
    models: [],
    noticeTimer: null,
    inboxMode: "list", // or "bulk"
    bulk: {
      scope: "open", source: "", intent: "", min: "", max: "", order: "frequency",
      queue: [], left: 0, total: 0, mine: 0, toReview: 0, done: 0, seq: 0, busy: false,
      decided: new Set(), // ids labelled here: an older page must not bring them back
      skipped: new Set(), // ids put off with →, until the filters change
      undo: [], // [{item, action, intent}], newest last
    },
    picker: { mode: "label", chosen: "" },
  };

  var kit = window.ConsoleKit;
  var $ = kit.$, el = kit.el, clear = kit.clear, str = kit.str;
  var LOGIN_PATH = "/api/trainer/login";
  var api = kit.createApi(LOGIN_PATH, sessionLost, {
    404: "内容不存在或已被处理，请刷新",
    409: "操作冲突，请刷新后重试",
  });
  var showLogin = kit.showLogin;

  // --- numbers and names ---------------------------------------------------------

  function num(value) {
    var n = Number(value);
    return value === null || value === undefined || isNaN(n) ? null : n;
  }

  function fixed(value, digits) {
    var n = num(value);
    return n === null ? "—" : n.toFixed(digits === undefined ? 3 : digits);
  }

  function percent(value) {
    var n = num(value);
    return n === null ? "—" : Math.round(n * 100) + "%";
  }

  function slug(text) {
    return str(text).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  }

  // --- messages ----------------------------------------------------------------

  function showNotice(message) {
    var box = $("notice");
    box.textContent = message;
    box.title = message;
    box.hidden = false;
    clearTimeout(state.noticeTimer);
    state.noticeTimer = setTimeout(function () { box.hidden = true; }, 8000);
  }

  function showPageError(message) {
    var box = $("page-error");
    box.textContent = message;
    box.title = message;
    box.hidden = !message;
  }

  function setInlineError(box, message) {
    box.textContent = message || "";
    box.hidden = !message;
  }

  /** Ask before a destructive or switching action; resolves to true on 确定. */
  function confirmAction(title, message, okText) {
    var dialog = $("confirm-dialog");
    if (dialog.open) return Promise.resolve(false); // a double click: one question at a time
    $("confirm-title").textContent = title;
    $("confirm-message").textContent = message;
    $("confirm-ok").textContent = okText || "确定";
    return new Promise(function (resolve) {
      var onClose = function () {
        dialog.removeEventListener("close", onClose);
        resolve(dialog.returnValue === "ok");
      };
      dialog.returnValue = "";
      dialog.addEventListener("close", onClose);
      dialog.showModal();
      $("confirm-cancel").focus();
    });
  }

  // --- login / logout ----------------------------------------------------------

  function sessionLost() {
    if (!state.me) return; // already on the login form
    leaveWorkspace();
    showLogin("登录已过期，请重新登录");
  }

  function onLogout() {
    var done = function () {
      leaveWorkspace();
      showLogin("");
    };
    api("POST", "/api/trainer/logout").then(done, done);
  }

  function enterWorkspace(username) {
    state.me = username;
    kit.showWorkspace(username);
    showPageError("");
    loadJob(); // shows a running or finished job, and polls while it runs
    // Intents first: every tab shows their Chinese labels.
    showTab(tabFromHash(), true);
    loadIntents().then(function () {
      if (!state.me) return;
      showTab(tabFromHash());
      if (state.tab !== "inbox") loadInbox(); // for the count on its tab
    });
  }

  function leaveWorkspace() {
    state.me = null;
    clearTimeout(state.jobTimer);
    state.jobTimer = null;
    state.job = null;
    state.jobLogKey = "";
    state.jobShownState = "";
    state.resultKey = "";
    state.inbox = [];
    state.inboxBusy.clear();
    state.inboxDone.clear();
    state.models = [];
    state.bulk.queue = [];
    state.bulk.decided.clear();
    state.bulk.skipped.clear();
    state.bulk.undo = [];
    state.bulk.done = 0;
    clear($("bulk-current"));
    clear($("inbox"));
    clear($("examples"));
    clear($("models"));
    $("result").hidden = true;
    $("job").hidden = true;
    showPageError("");
  }

  // --- tabs ----------------------------------------------------------------------

  function tabFromHash() {
    var name = location.hash.replace(/^#/, "");
    return TABS.indexOf(name) >= 0 ? name : "inbox";
  }

  function showTab(name, noLoad) {
    state.tab = name;
    TABS.forEach(function (t) {
      var selected = t === name;
      $("tab-" + t).setAttribute("aria-selected", selected ? "true" : "false");
      $("tab-" + t).tabIndex = selected ? 0 : -1;
      $("panel-" + t).hidden = !selected;
    });
    if (location.hash !== "#" + name) history.replaceState(null, "", "#" + name);
    if (!state.me || noLoad) return;
    if (name === "inbox") { if (state.inboxMode === "bulk") { loadBulk(); loadAgreement(); } else loadInbox(); }
    else if (name === "examples") { loadIntents(); loadExamples(); }
    else if (name === "retrain") loadJob();
    else if (name === "models") loadModels();
  }

  function onTabClick(event) {
    var tab = event.target.closest(".tab");
    if (tab) showTab(tab.dataset.tab);
  }

  function onTabKey(event) {
    if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
    var i = TABS.indexOf(state.tab) + (event.key === "ArrowRight" ? 1 : -1);
    var next = TABS[(i + TABS.length) % TABS.length];
    showTab(next);
    $("tab-" + next).focus();
  }

  // --- intents -----------------------------------------------------------------

  function loadIntents() {
    return api("GET", "/api/trainer/intents").then(function (intents) {
      state.intents = Array.isArray(intents) ? intents : [];
      renderIntentPicker();
      renderIntentOptions($("example-intent"), state.examples.intent || "");
      if ($("intent-picker").open) renderPicker(); // opened before the intents arrived
      if (state.inboxMode === "bulk") renderBulk(); // the numbered suggestions need them too
      if (state.job) {
        state.resultKey = ""; // redraw the evaluation with the intents' labels and order
        renderJob();
      }
    }).catch(function (err) {
      if (err.status !== 401) showPageError("加载意图列表失败：" + err.message);
    });
  }

  function intentLabel(name) {
    for (var i = 0; i < state.intents.length; i++) {
      var intent = state.intents[i];
      if (intent.name === name) return intent.label && intent.label !== name ? str(intent.label) : "";
    }
    return name === "nlu_fallback" ? "没听懂" : "";
  }

  /** "讲价/优惠 bargain" as two spans, the name in small monospace. */
  function intentNodes(name) {
    var label = intentLabel(name);
    return [label || str(name), label ? el("span", { className: "intent-name", text: " " + str(name) }) : null];
  }

  function intentText(name) {
    var label = intentLabel(name);
    return label ? label + "（" + str(name) + "）" : str(name);
  }

  function renderIntentOptions(select, chosen, placeholder) {
    clear(select);
    if (placeholder) select.appendChild(el("option", { value: "", text: placeholder }));
    state.intents.forEach(function (intent) {
      select.appendChild(el("option", { value: str(intent.name), text: intentText(intent.name) }));
    });
    select.value = chosen || (placeholder ? "" : (state.intents[0] ? str(state.intents[0].name) : ""));
  }

  // --- inbox -------------------------------------------------------------------

  function loadInbox() {
    var seq = ++state.inboxSeq;
    return api("GET", "/api/trainer/inbox").then(function (items) {
      if (seq !== state.inboxSeq || !state.me) return;
      state.inbox = (Array.isArray(items) ? items : []).filter(function (i) { return !state.inboxDone.has(i.id); });
      renderInbox();
    }).catch(function (err) {
      if (err.status !== 401) showPageError("加载待处理内容失败：" + err.message);
    });
  }

  function renderInboxCount() {
    var badge = $("inbox-count");
    badge.textContent = String(state.inbox.length);
    badge.hidden = state.inbox.length === 0;
  }

  function renderInbox() {
    var list = $("inbox");
    clear(list);
    state.inbox.forEach(function (item) {
      var node = inboxItemNode(item);
      list.appendChild(node);
      if (state.inboxBusy.has(item.id)) setItemBusy(node, true);
    });
    $("inbox-empty").hidden = state.inbox.length > 0;
    renderInboxCount();
  }

  function inboxItemNode(item) {
    var id = str(item.id);
    var reasons = Array.isArray(item.reasons) ? item.reasons : [];
    var labels = Array.isArray(item.reason_labels) ? item.reason_labels : reasons;
    var top3 = Array.isArray(item.top3) ? item.top3 : [];
    var suggestions = Array.isArray(item.suggestions) ? item.suggestions : [];
    var context = Array.isArray(item.context) ? item.context : [];

    var main = el("div", { className: "item-main" }, [
      el("div", { className: "item-text-row" }, [
        el("span", { className: "item-text", text: str(item.text) }),
        Number(item.count) > 1 ? el("span", { className: "item-count", title: "买家说过的次数", text: "×" + str(item.count) }) : null,
      ]),
      el("div", { className: "reasons" }, labels.map(function (label, i) {
        return el("span", { className: "reason reason-" + slug(reasons[i]), title: str(reasons[i]), text: str(label) });
      })),
      context.length ? contextNode(context, str(item.text)) : null,
    ]);

    var guesses = el("div", { className: "top3" }, [el("div", { className: "top3-title", text: "机器人的前三个猜测" })]);
    if (!top3.length) guesses.appendChild(el("div", { className: "muted small-text", text: "没有记录" }));
    top3.forEach(function (g) {
      var c = Math.max(0, Math.min(1, num(g.confidence) || 0));
      var bar = el("span");
      bar.style.width = (c * 100).toFixed(1) + "%";
      guesses.appendChild(el("div", { className: "guess" + (g.intent === "nlu_fallback" ? " fallback" : "") }, [
        el("span", { className: "guess-name", title: intentText(g.intent) }, intentNodes(g.intent)),
        el("span", { className: "guess-pct", text: percent(c) }),
        el("span", { className: "bar", title: "置信度 " + c.toFixed(2) }, [bar]),
      ]));
    });

    var select = el("select", { className: "intent-select" });
    select.setAttribute("aria-label", "选择意图");
    renderIntentOptions(select, "", "选择其他意图…");
    var labelButton = el("button", { type: "button", className: "btn btn-primary btn-small choose-label", text: "加入训练集",
      dataset: { action: "label" } });
    var testButton = el("button", { type: "button", className: "btn btn-small choose-test", text: "作为测试样例",
      title: "用所选意图加入测试集（只用来评估，不参与训练）", dataset: { action: "test" } });
    var syncDisabled = function () {
      labelButton.disabled = testButton.disabled = !select.value;
    };
    select.addEventListener("change", syncDisabled);
    syncDisabled();

    var actions = el("div", { className: "item-actions" }, [
      suggestions.length ? el("span", { className: "actions-label", text: "一键标注：" }) : null,
    ].concat(suggestions.map(function (name) {
      return el("button", { type: "button", className: "label-btn", title: "加入训练集，意图：" + intentText(name),
        dataset: { action: "label", intent: str(name) } }, intentNodes(name));
    })).concat([
      suggestions.length ? el("span", { className: "divider" }) : null,
      select, labelButton, testButton,
      el("span", { className: "spacer" }),
      el("button", { type: "button", className: "btn btn-small btn-ghost dismiss", text: "忽略",
        title: "这条不需要学习，不再显示", dataset: { action: "dismiss" } }),
    ]));

    var error = el("p", { className: "inline-error item-error", role: "alert" });
    error.hidden = true;

    var node = el("li", { className: "inbox-item", dataset: { itemId: id } }, [main, guesses, actions, error]);
    actions.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-action]");
      if (!button || button.disabled) return;
      var action = button.dataset.action;
      var intent = button.dataset.intent || (action === "dismiss" ? "" : select.value);
      decide(item, node, action, intent);
    });
    return node;
  }

  function contextNode(context, itemText) {
    return el("details", { className: "item-context" }, [
      el("summary", { text: "对话上下文（" + context.length + " 条）" }),
      el("ol", { className: "context-lines" }, context.map(function (line) {
        var speaker = str(line && line.speaker);
        var text = str(line && line.text);
        var classes = "ctx-" + slug(speaker) + (speaker === "buyer" && text === itemText ? " ctx-this" : "");
        return el("li", { className: classes }, [
          el("span", { className: "ctx-speaker", text: SPEAKER_LABEL[speaker] || speaker }),
          el("span", { className: "ctx-text", text: text }),
        ]);
      })),
    ]);
  }

  function setItemBusy(node, busy) {
    node.classList.toggle("busy", busy);
    Array.prototype.forEach.call(node.querySelectorAll("button, select"), function (control) {
      if (busy) {
        control.dataset.wasDisabled = control.disabled ? "1" : "";
        control.disabled = true;
      } else {
        control.disabled = control.dataset.wasDisabled === "1";
      }
    });
  }

  /** The item's node as shown now (the list may have been redrawn while a request ran). */
  function inboxNode(id, fallback) {
    var found = null;
    Array.prototype.some.call($("inbox").children, function (child) {
      if (child.dataset.itemId === String(id)) { found = child; return true; }
      return false;
    });
    return found || fallback;
  }

  function decide(item, node, action, intent) {
    var error = node.querySelector(".item-error");
    if (action !== "dismiss" && !intent) {
      setInlineError(error, "请先选择意图");
      return;
    }
    setInlineError(error, "");
    state.inboxBusy.add(item.id);
    setItemBusy(node, true);
    var body = { action: action };
    if (action !== "dismiss") body.intent = intent;
    api("POST", "/api/trainer/inbox/" + encodeURIComponent(str(item.id)), body).then(function (data) {
      state.inboxBusy.delete(item.id);
      state.inboxDone.add(item.id);
      var what = ACTION_DONE[action] || "已处理";
      var where = data && data.file ? "，写入 " + str(data.file) : "";
      var intentPart = action === "dismiss" ? "" : "（" + intentText(intent) + "）";
      showNotice(what + intentPart + where + "：“" + str(item.text) + "”");
      removeInboxItem(item);
      if (action !== "dismiss") loadIntents(); // counts changed
    }).catch(function (err) {
      state.inboxBusy.delete(item.id);
      if (err.status === 401) return;
      var current = inboxNode(item.id, node);
      setItemBusy(current, false);
      var box = current.querySelector(".item-error");
      if (err.status === 404) {
        state.inboxDone.add(item.id);
        setInlineError(box, "这条已经被处理过了（可能是其他训练师），已从列表移除");
        setTimeout(function () { removeInboxItem(item); }, 1500);
        return;
      }
      setInlineError(box, err.message);
    });
  }

  function removeInboxItem(item) {
    state.inbox = state.inbox.filter(function (i) { return i.id !== item.id; });
    renderInboxCount();
    var node = inboxNode(item.id, null);
    if (!node) return;
    node.classList.add("leaving");
    setTimeout(function () {
      if (node.parentNode) node.parentNode.removeChild(node);
      $("inbox-empty").hidden = state.inbox.length > 0;
    }, 350);
  }

  // --- bulk labelling (批量标注) ------------------------------------------------------
  // One line at a time, from the keyboard: 1–3 take the bot's suggestions, / any other intent,
  // T the test set, S dismisses, U takes the last decision back (the example is deleted again).

  var BULK_REFILL_AT = 5; // fetch the next page when this few are left in the queue

  function bulkQuery() {
    var b = state.bulk;
    var query = ["scope=" + encodeURIComponent(b.scope), "order=" + encodeURIComponent(b.order)];
    if (b.source) query.push("source=" + encodeURIComponent(b.source));
    if (b.intent) query.push("intent=" + encodeURIComponent(b.intent));
    if (b.min !== "") query.push("min=" + encodeURIComponent(b.min));
    if (b.max !== "") query.push("max=" + encodeURIComponent(b.max));
    return query.join("&");
  }

  function setInboxMode(mode) {
    state.inboxMode = mode;
    var bulk = mode === "bulk";
    $("mode-list").classList.toggle("active", !bulk);
    $("mode-bulk").classList.toggle("active", bulk);
    $("mode-list").setAttribute("aria-pressed", bulk ? "false" : "true");
    $("mode-bulk").setAttribute("aria-pressed", bulk ? "true" : "false");
    $("inbox-list-view").hidden = bulk;
    $("bulk").hidden = !bulk;
    if (bulk) loadBulk();
    else loadInbox();
  }

  function loadBulk(keepQueue) {
    var b = state.bulk;
    var seq = ++b.seq;
    return api("GET", "/api/trainer/inbox/bulk?" + bulkQuery()).then(function (data) {
      if (seq !== b.seq || !state.me) return;
      var items = (data && Array.isArray(data.items) ? data.items : []).filter(function (i) {
        return !b.decided.has(i.id) && !b.skipped.has(i.id);
      });
      if (keepQueue) {
        var have = new Set(b.queue.map(function (i) { return i.id; }));
        b.queue = b.queue.concat(items.filter(function (i) { return !have.has(i.id); }));
      } else {
        b.queue = items;
      }
      b.left = Number(data.left) || 0;
      b.total = Number(data.total) || 0;
      b.mine = Number(data.mine) || 0;
      b.toReview = Number(data.to_review) || 0;
      fillFilterOptions($("bulk-source"), data.sources || [], "全部来源", b.source, function (s) { return s; });
      fillFilterOptions($("bulk-intent"), data.intents || [], "全部意图", b.intent, intentText);
      renderBulk();
    }).catch(function (err) {
      if (err.status !== 401) setInlineError($("bulk-error"), "加载失败：" + err.message);
    });
  }

  function fillFilterOptions(select, values, allText, chosen, text) {
    var wanted = values.map(str);
    if (chosen && wanted.indexOf(chosen) < 0) wanted.unshift(chosen); // keep the trainer's choice selectable
    clear(select);
    select.appendChild(el("option", { value: "", text: allText }));
    wanted.forEach(function (v) { select.appendChild(el("option", { value: v, text: text(v) })); });
    select.value = chosen || "";
  }

  function loadAgreement() {
    return api("GET", "/api/trainer/inbox/agreement").then(renderAgreement).catch(function () {});
  }

  function renderBulkCounts() {
    var b = state.bulk;
    $("bulk-done").textContent = String(b.done);
    $("bulk-left").textContent = String(b.left);
    $("bulk-total").textContent = b.left !== b.total ? "（共 " + b.total + " 条，其余不在筛选内）" : "";
    $("bulk-mine").textContent = String(b.mine);
    $("bulk-review-hint").textContent = b.scope === "open" && b.toReview
      ? "另有 " + b.toReview + " 条别人标过、等你复核" : "";
  }

  /** The bot's guesses a trainer can pick (the fallback is not an intent to label with), numbered 1–3. */
  function pickable(item) {
    var known = new Set(state.intents.map(function (i) { return str(i.name); }));
    return (Array.isArray(item.top3) ? item.top3 : []).filter(function (g) { return known.has(str(g.intent)); }).slice(0, 3);
  }

  function renderBulk() {
    var b = state.bulk;
    renderBulkCounts();
    var box = $("bulk-current");
    clear(box);
    var item = b.queue[0];
    $("bulk-empty").hidden = !!item;
    if (!item) return;
    var numbered = pickable(item);
    var reasons = Array.isArray(item.reason_labels) ? item.reason_labels : [];
    box.appendChild(el("div", { className: "bulk-meta" }, [
      b.scope === "review" ? el("span", { className: "reason reason-review", text: "复核" }) : null,
      item.source ? el("span", { className: "source-badge", title: "来源", text: "来源：" + str(item.source) }) : null,
    ].concat(reasons.map(function (r, i) {
      return el("span", { className: "reason reason-" + slug((item.reasons || [])[i]), text: str(r) });
    })).concat([
      Number(item.count) > 1 ? el("span", { className: "item-count", title: "出现次数", text: "×" + str(item.count) }) : null,
    ])));
    box.appendChild(el("p", { className: "bulk-text", dataset: { itemId: str(item.id) }, text: str(item.text) }));
    var guesses = el("div", { className: "bulk-guesses" }, [el("div", { className: "top3-title", text: "机器人的猜测（按数字键选用）" })]);
    (Array.isArray(item.top3) ? item.top3 : []).forEach(function (g) {
      var n = numbered.indexOf(g) + 1;
      var c = Math.max(0, Math.min(1, num(g.confidence) || 0));
      var bar = el("span");
      bar.style.width = (c * 100).toFixed(1) + "%";
      var button = el("button", {
        type: "button", className: "bulk-guess" + (n ? "" : " fallback"), disabled: !n || b.busy,
        title: n ? "按 " + n + "：加入训练集，意图 " + intentText(g.intent) : "没听懂，不能作为意图",
        dataset: { intent: str(g.intent) },
      }, [
        el("kbd", { text: n ? String(n) : "–" }),
        el("span", { className: "guess-name" }, intentNodes(g.intent)),
        el("span", { className: "guess-pct", text: percent(c) }),
        el("span", { className: "bar" }, [bar]),
      ]);
      if (n) button.addEventListener("click", function () { bulkDecide("label", str(g.intent)); });
      guesses.appendChild(button);
    });
    if (!(item.top3 || []).length) guesses.appendChild(el("div", { className: "muted small-text", text: "没有记录机器人的猜测" }));
    box.appendChild(guesses);
    var actions = el("div", { className: "bulk-actions" }, [
      bulkButton("/", "其他意图…", "btn", function () { openPicker("label"); }),
      bulkButton("T", "放入测试集…", "btn", function () { openPicker("test"); }),
      bulkButton("S", "忽略", "btn btn-ghost", function () { bulkDecide("dismiss", ""); }),
      el("span", { className: "spacer" }),
      bulkButton("→", "先跳过", "btn btn-ghost", bulkSkip),
      bulkButton("U", "撤销上一条", "btn btn-ghost", bulkUndo, !b.undo.length),
    ]);
    box.appendChild(actions);
  }

  function bulkButton(key, text, className, onClick, disabled) {
    var button = el("button", { type: "button", className: className + " bulk-action", disabled: !!disabled || state.bulk.busy,
      dataset: { key: key } }, [el("kbd", { text: key }), " " + text]);
    button.addEventListener("click", onClick);
    return button;
  }

  /** A refusal from TrainingData reads "中文原因（English details）": the Chinese part first, details small. */
  function showBulkRefusal(message) {
    var box = $("bulk-error");
    var text = str(message);
    var cut = text.indexOf("（");
    clear(box);
    box.appendChild(el("strong", { text: "没有写入：" + (cut > 0 ? text.slice(0, cut) : text) }));
    if (cut > 0) box.appendChild(el("span", { className: "refusal-detail", text: text.slice(cut) }));
    box.hidden = false;
  }

  function bulkDecide(action, intent) {
    var b = state.bulk;
    var item = b.queue[0];
    if (!item || b.busy) return;
    b.busy = true;
    setInlineError($("bulk-error"), "");
    renderBulk();
    var body = { action: action };
    if (action !== "dismiss") body.intent = intent;
    api("POST", "/api/trainer/inbox/" + encodeURIComponent(str(item.id)), body).then(function (data) {
      b.busy = false;
      b.decided.add(item.id);
      b.queue.shift();
      b.undo.push({ item: item, action: action, intent: intent });
      b.done += 1;
      b.mine += 1;
      b.left = Math.max(0, b.left - 1);
      b.total = Math.max(0, b.total - 1);
      showLast(item, action, intent, data || {});
      renderBulk();
      if (action !== "dismiss") loadIntents(); // counts changed
      loadAgreement();
      if (b.queue.length < BULK_REFILL_AT) loadBulk(true);
    }).catch(function (err) {
      b.busy = false;
      renderBulk();
      if (err.status === 401) return;
      if (err.status === 404 || err.status === 409) {
        b.decided.add(item.id);
        b.queue.shift();
        renderBulk();
        setInlineError($("bulk-error"), err.status === 404 ? "上一条已经被别人处理过了，已跳过" : err.message);
        return;
      }
      showBulkRefusal(err.message);
    });
  }

  function labelText(label) {
    return label === "skip" ? "忽略" : intentText(label);
  }

  function showLast(item, action, intent, data) {
    var box = $("bulk-last");
    clear(box);
    var what = action === "dismiss" ? "已忽略" : (action === "test" ? "已放入测试集：" : "已加入训练集：") + intentText(intent);
    var mine = action === "dismiss" ? "skip" : intent;
    box.appendChild(el("div", { className: "last-line" }, [
      el("span", { className: "muted", text: "上一条 " }),
      el("span", { className: "last-text", text: "“" + str(item.text) + "”" }),
      el("span", { text: " → " + what }),
      data.file ? el("span", { className: "muted small-text", text: "（" + str(data.file) + "）" }) : null,
      data.second_opinion ? el("span", { className: "muted small-text", text: "（复核，不改训练数据）" }) : null,
    ]));
    var others = Array.isArray(data.others) ? data.others : [];
    others.forEach(function (o) {
      var agree = str(o.label) === mine;
      box.appendChild(el("div", { className: "last-compare" }, [
        el("span", { className: "agree-badge " + (agree ? "agree" : "disagree"), text: agree ? "一致" : "不一致" }),
        el("span", { text: " 你：" + labelText(mine) + " · " + str(o.trainer) + "：" + labelText(o.label) }),
      ]));
    });
    box.hidden = false;
  }

  function bulkSkip() {
    var b = state.bulk;
    var item = b.queue.shift();
    if (!item) return;
    b.skipped.add(item.id); // not decided: back after a refresh of the page
    setInlineError($("bulk-error"), "");
    renderBulk();
    if (b.queue.length < BULK_REFILL_AT) loadBulk(true);
  }

  function bulkUndo() {
    var b = state.bulk;
    var last = b.undo[b.undo.length - 1];
    if (!last || b.busy) return;
    b.busy = true;
    setInlineError($("bulk-error"), "");
    api("DELETE", "/api/trainer/inbox/" + encodeURIComponent(str(last.item.id)) + "/label").then(function (data) {
      b.busy = false;
      b.undo.pop();
      b.decided.delete(last.item.id);
      b.queue.unshift(last.item);
      b.done = Math.max(0, b.done - 1);
      b.mine = Math.max(0, b.mine - 1);
      b.left += 1;
      b.total += 1;
      var box = $("bulk-last");
      clear(box);
      box.appendChild(el("div", { className: "last-line" }, [
        el("span", { text: "已撤销：“" + str(last.item.text) + "”" + (data && data.file ? "，已从 " + str(data.file) + " 删除" : "") }),
      ]));
      box.hidden = false;
      renderBulk();
      if (last.action !== "dismiss") loadIntents();
      loadAgreement();
    }).catch(function (err) {
      b.busy = false;
      renderBulk();
      if (err.status !== 401) showBulkRefusal(err.message);
    });
  }

  function renderAgreement(data) {
    if (!data) return;
    var lines = Number(data.lines) || 0;
    $("agreement-summary").textContent = lines
      ? "两位训练师都标过 " + lines + " 条，一致 " + str(data.agreed) + " 条（" + percent(data.rate) + "）"
      : "还没有两位训练师都标过的句子";
    var pairs = $("agreement-pairs");
    clear(pairs);
    (Array.isArray(data.pairs) ? data.pairs : []).forEach(function (p) {
      var kappa = num(p.kappa);
      pairs.appendChild(el("li", null, [
        el("span", { text: (p.trainers || []).map(str).join(" × ") + "：" + str(p.lines) + " 条 · 一致 " +
          percent(p.lines ? p.agreed / p.lines : null) }),
        el("span", { className: "kappa", title: "Cohen's κ：扣除碰巧一致后的一致程度，1 为完全一致，0 与随机相当",
          text: "κ = " + (kappa === null ? "—" : kappa.toFixed(2)) }),
      ]));
    });
    var list = $("disagreements");
    clear(list);
    (Array.isArray(data.disagreements) ? data.disagreements : []).forEach(function (d) {
      list.appendChild(el("li", { className: "disagreement" }, [
        el("div", { className: "dis-text" }, [el("span", { className: "agree-badge disagree", text: "不一致" }), " " + str(d.text)]),
        el("div", { className: "dis-labels" }, (d.labels || []).map(function (l) {
          return el("span", { className: "dis-label" }, [el("strong", { text: str(l.trainer) }), "：" + labelText(str(l.label))]);
        })),
      ]));
    });
  }

  function onBulkFilter(event) {
    var b = state.bulk;
    // Back to the keyboard shortcuts once a filter is set (they are off while a control has the focus).
    if (event && event.target && event.target.blur) event.target.blur();
    b.scope = $("bulk-scope").value;
    b.source = $("bulk-source").value;
    b.intent = $("bulk-intent").value;
    b.min = $("bulk-min").value.trim();
    b.max = $("bulk-max").value.trim();
    b.order = $("bulk-order").value;
    b.skipped.clear();
    loadBulk();
  }

  // --- the intent picker ------------------------------------------------------------

  function openPicker(mode) {
    var item = state.bulk.queue[0];
    if (!item || state.bulk.busy) return;
    var picker = state.picker;
    picker.mode = mode;
    var first = pickable(item)[0];
    picker.chosen = mode === "test" && first ? str(first.intent) : "";
    $("picker-title").textContent = mode === "test" ? "放入测试集：选择意图" : "加入训练集：选择意图";
    $("picker-text").textContent = "“" + str(item.text) + "”";
    $("picker-filter").value = "";
    renderPicker();
    $("intent-picker").showModal();
    $("picker-filter").focus();
  }

  function pickerMatches() {
    var needle = $("picker-filter").value.trim().toLowerCase();
    return state.intents.filter(function (i) {
      return !needle || str(i.name).toLowerCase().indexOf(needle) >= 0 || str(i.label).toLowerCase().indexOf(needle) >= 0;
    });
  }

  function renderPicker() {
    var picker = state.picker;
    var list = $("picker-list");
    clear(list);
    var matches = pickerMatches();
    if (!matches.some(function (i) { return str(i.name) === picker.chosen; })) {
      picker.chosen = matches[0] ? str(matches[0].name) : "";
    }
    matches.forEach(function (intent) {
      var name = str(intent.name);
      var option = el("li", { className: "picker-option" + (name === picker.chosen ? " chosen" : ""), dataset: { intent: name } },
        intentNodes(name));
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", name === picker.chosen ? "true" : "false");
      option.addEventListener("click", function () { picker.chosen = name; choosePicked(); });
      list.appendChild(option);
    });
    if (!matches.length) {
      list.appendChild(el("li", { className: "muted small-text", text: state.intents.length ? "没有匹配的意图" : "正在加载意图…" }));
    }
    var chosen = list.querySelector(".chosen");
    if (chosen && chosen.scrollIntoView) chosen.scrollIntoView({ block: "nearest" });
  }

  function onPickerKey(event) {
    var picker = state.picker;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      var names = pickerMatches().map(function (i) { return str(i.name); });
      var i = names.indexOf(picker.chosen) + (event.key === "ArrowDown" ? 1 : -1);
      picker.chosen = names[(i + names.length) % names.length] || "";
      renderPicker();
    } else if (event.key === "Enter") {
      event.preventDefault();
      choosePicked();
    }
  }

  function choosePicked() {
    var picker = state.picker;
    if (!picker.chosen) return;
    $("intent-picker").close();
    bulkDecide(picker.mode, picker.chosen);
  }

  function onBulkKey(event) {
    if (state.tab !== "inbox" || state.inboxMode !== "bulk" || !state.me) return;
    if ($("intent-picker").open || $("confirm-dialog").open) return;
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "SELECT" || target.tagName === "TEXTAREA")) return;
    if (event.altKey || event.metaKey || (event.ctrlKey && event.key.toLowerCase() !== "z")) return;
    var key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    var item = state.bulk.queue[0];
    var handled = true;
    if (key === "1" || key === "2" || key === "3") {
      var guess = item ? pickable(item)[Number(key) - 1] : null;
      if (guess) bulkDecide("label", str(guess.intent));
    } else if (key === "/" || key === "o") openPicker("label");
    else if (key === "t") openPicker("test");
    else if (key === "s") bulkDecide("dismiss", "");
    else if (key === "u" || key === "z") bulkUndo();
    else if (key === "ArrowRight" || key === "n") bulkSkip();
    else handled = false;
    if (handled) event.preventDefault();
  }

  // --- examples ----------------------------------------------------------------

  function renderIntentPicker() {
    var list = $("intent-list");
    clear(list);
    var total = { train: 0, test: 0 };
    state.intents.forEach(function (i) {
      total.train += Number(i.train) || 0;
      total.test += Number(i.test) || 0;
    });
    var entries = [{ name: "", label: "全部意图", train: total.train, test: total.test }].concat(state.intents);
    entries.forEach(function (intent) {
      var name = str(intent.name);
      var item = el("li", {
        className: "intent-item" + (name === state.examples.intent ? " selected" : ""),
        tabIndex: 0, dataset: { intent: name },
      }, [
        el("span", { className: "label", text: intent.label || name }),
        el("span", { className: "counts", title: "训练样例 / 测试样例", text: str(intent.train) + " / " + str(intent.test) }),
        name ? el("span", { className: "intent-name", text: name }) : null,
      ]);
      item.setAttribute("role", "button");
      item.setAttribute("aria-pressed", name === state.examples.intent ? "true" : "false");
      list.appendChild(item);
    });
  }

  function onIntentPick(event) {
    if (event.type === "keydown" && event.key !== "Enter" && event.key !== " ") return;
    var item = event.target.closest(".intent-item");
    if (!item) return;
    event.preventDefault();
    state.examples.intent = item.dataset.intent;
    renderIntentPicker();
    if (state.examples.intent) $("example-intent").value = state.examples.intent;
    loadExamples();
  }

  function setExampleSet(test) {
    state.examples.test = test;
    $("set-train").classList.toggle("active", !test);
    $("set-test").classList.toggle("active", test);
    $("set-train").setAttribute("aria-pressed", test ? "false" : "true");
    $("set-test").setAttribute("aria-pressed", test ? "true" : "false");
    $("example-add-submit").textContent = test ? "添加到测试集" : "添加到训练集";
    loadExamples();
  }

  function loadExamples() {
    var ex = state.examples;
    var seq = ++ex.seq;
    var query = [];
    if (ex.intent) query.push("intent=" + encodeURIComponent(ex.intent));
    if (ex.search) query.push("search=" + encodeURIComponent(ex.search));
    if (ex.test) query.push("test=1");
    renderExamplesTitle();
    return api("GET", "/api/trainer/examples" + (query.length ? "?" + query.join("&") : "")).then(function (list) {
      if (seq !== ex.seq || !state.me) return;
      ex.list = Array.isArray(list) ? list : [];
      renderExamples();
    }).catch(function (err) {
      if (err.status === 401 || seq !== ex.seq) return;
      ex.list = [];
      renderExamples();
      $("examples-summary").textContent = "加载样例失败：" + err.message;
    });
  }

  function renderExamplesTitle() {
    var ex = state.examples;
    $("examples-title").textContent = ex.intent ? intentText(ex.intent) : "全部意图";
  }

  function renderExamples() {
    var ex = state.examples;
    renderExamplesTitle();
    var list = $("examples");
    clear(list);
    ex.list.forEach(function (example) { list.appendChild(exampleNode(example)); });
    var which = ex.test ? "测试集" : "训练集";
    $("examples-summary").textContent = ex.list.length
      ? which + "中共 " + ex.list.length + " 条" + (ex.search ? "包含“" + ex.search + "”的" : "") + "样例"
      : which + "中没有" + (ex.search ? "包含“" + ex.search + "”的" : "") + "样例";
  }

  /** The example's text with entity annotations — [藏青色](color) — highlighted. */
  function annotatedText(text) {
    var out = el("span", { className: "example-text" });
    var pattern = /\[([^\]]+)\](?:\(([^)]+)\)|(\{[^}]*\}))/g;
    var last = 0;
    var match;
    text = str(text);
    while ((match = pattern.exec(text)) !== null) {
      if (match.index > last) out.appendChild(document.createTextNode(text.slice(last, match.index)));
      var entity = match[2] ? match[2].split(":")[0] : "";
      if (match[3]) {
        try { entity = str(JSON.parse(match[3]).entity); } catch (e) { entity = match[3]; }
      }
      out.appendChild(el("span", { className: "entity", title: "实体：" + entity + "（" + match[0] + "）" }, [
        match[1], el("span", { className: "entity-type", text: entity }),
      ]));
      last = pattern.lastIndex;
    }
    if (last < text.length) out.appendChild(document.createTextNode(text.slice(last)));
    return out;
  }

  function exampleNode(example) {
    var node = el("li", { className: "example" });
    var error = el("p", { className: "inline-error", role: "alert" });
    error.hidden = true;

    var showView = function () {
      clear(node);
      node.appendChild(annotatedText(example.text));
      if (!state.examples.intent) node.appendChild(el("span", { className: "example-meta", title: intentText(example.intent) }, intentNodes(example.intent)));
      node.appendChild(el("span", { className: "example-meta", text: str(example.file) }));
      var edit = el("button", { type: "button", className: "btn-link", text: "编辑" });
      var remove = el("button", { type: "button", className: "btn-link danger", text: "删除" });
      edit.addEventListener("click", showEdit);
      remove.addEventListener("click", onDelete);
      node.appendChild(edit);
      node.appendChild(remove);
      node.appendChild(error);
    };

    var showEdit = function () {
      clear(node);
      setInlineError(error, "");
      var input = el("input", { type: "text", className: "example-edit", value: str(example.text), maxLength: 200 });
      input.setAttribute("aria-label", "修改样例");
      var save = el("button", { type: "button", className: "btn btn-primary btn-small", text: "保存" });
      var cancel = el("button", { type: "button", className: "btn btn-small", text: "取消" });
      var submit = function () {
        var newText = input.value.trim();
        if (!newText) { setInlineError(error, "样例不能为空"); return; }
        if (newText === example.text) { showView(); return; }
        save.disabled = cancel.disabled = input.disabled = true;
        var body = { intent: example.intent, text: example.text, new_text: newText };
        if (state.examples.test) body.test = true;
        api("PUT", "/api/trainer/examples", body).then(function (updated) {
          example.text = updated && updated.text ? updated.text : newText;
          if (updated && updated.file) example.file = updated.file;
          showView();
          showNotice("已保存，写入 " + str(example.file));
        }).catch(function (err) {
          save.disabled = cancel.disabled = input.disabled = false;
          if (err.status !== 401) setInlineError(error, err.message);
          input.focus();
        });
      };
      save.addEventListener("click", submit);
      cancel.addEventListener("click", showView);
      input.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && !event.isComposing && event.keyCode !== 229) { event.preventDefault(); submit(); }
        else if (event.key === "Escape") showView();
      });
      node.appendChild(input);
      node.appendChild(save);
      node.appendChild(cancel);
      node.appendChild(error);
      input.focus();
    };

    var onDelete = function () {
      var where = state.examples.test ? "测试集" : "训练集";
      confirmAction("删除样例", "从" + where + "删除这条样例？\n“" + str(example.text) + "”\n意图：" + intentText(example.intent), "删除")
        .then(function (ok) {
          if (!ok) return;
          var body = { intent: example.intent, text: example.text };
          if (state.examples.test) body.test = true;
          api("DELETE", "/api/trainer/examples", body).then(function () {
            state.examples.list = state.examples.list.filter(function (e) { return e !== example; });
            renderExamples();
            loadIntents();
            showNotice("已删除：“" + str(example.text) + "”");
          }).catch(function (err) {
            if (err.status !== 401) setInlineError(error, "删除失败：" + err.message);
          });
        });
    };

    showView();
    return node;
  }

  function onAddExample(event) {
    event.preventDefault();
    var input = $("example-text");
    var text = input.value.trim();
    var intent = $("example-intent").value;
    var error = $("example-add-error");
    if (!text) { setInlineError(error, "请输入样例内容"); input.focus(); return; }
    if (!intent) { setInlineError(error, "请选择意图"); return; }
    setInlineError(error, "");
    $("example-add-submit").disabled = true;
    api("POST", "/api/trainer/examples", { intent: intent, text: text, test: state.examples.test }).then(function (added) {
      $("example-add-submit").disabled = false;
      input.value = "";
      input.focus();
      showNotice("已添加到" + (state.examples.test ? "测试集" : "训练集") + "（" + intentText(intent) + "），写入 " +
        str(added && added.file));
      loadIntents();
      loadExamples();
    }).catch(function (err) {
      $("example-add-submit").disabled = false;
      if (err.status !== 401) setInlineError(error, err.message);
    });
  }

  function onSearchInput() {
    clearTimeout(state.searchTimer);
    state.searchTimer = setTimeout(function () {
      state.examples.search = $("example-search").value.trim();
      loadExamples();
    }, SEARCH_DELAY_MS);
  }

  // --- validate & retrain ------------------------------------------------------

  function onValidate() {
    var box = $("validate-result");
    var button = $("validate");
    button.disabled = true;
    button.textContent = "校验中…";
    clear(box);
    box.appendChild(el("span", { className: "muted", text: "正在校验，可能需要半分钟…" }));
    api("POST", "/api/trainer/validate").then(function (data) {
      clear(box);
      var problems = data && Array.isArray(data.problems) ? data.problems : [];
      if (data && data.ok) {
        box.appendChild(el("div", { className: "validate-ok", text: "✓ 数据校验通过，可以开始训练" }));
      } else {
        box.appendChild(el("div", { className: "validate-bad" }, [
          el("strong", { text: "发现 " + problems.length + " 个问题：" }),
          el("ul", null, problems.map(function (p) { return el("li", { text: str(p) }); })),
        ]));
      }
      if (data && data.output) {
        box.appendChild(el("details", { className: "validate-output" }, [
          el("summary", { text: "rasa data validate 输出" }), el("pre", { text: str(data.output) }),
        ]));
      }
    }).catch(function (err) {
      clear(box);
      if (err.status !== 401) box.appendChild(el("div", { className: "validate-bad", text: "校验失败：" + err.message }));
    }).then(function () {
      button.disabled = false;
      button.textContent = "校验数据";
    });
  }

  function onRetrain() {
    var error = $("retrain-error");
    setInlineError(error, "");
    $("retrain-start").disabled = true;
    api("POST", "/api/trainer/retrain").then(function (data) {
      showNotice("训练已开始");
      setJob(data && data.job ? data.job : null);
      if (!data || !data.job) loadJob();
    }).catch(function (err) {
      if (err.status === 401) return;
      setInlineError(error, err.message);
      loadJob(); // a 409 means a job is running: show it
    });
  }

  function loadJob() {
    var seq = ++state.jobSeq;
    return api("GET", "/api/trainer/retrain").then(function (data) {
      if (seq !== state.jobSeq || !state.me) return;
      setJob(data ? data.job : null);
    }).catch(function (err) {
      if (err.status === 401 || !state.me) return;
      // Keep polling through a blip while a job runs; say so.
      setInlineError($("retrain-error"), "获取训练进度失败：" + err.message);
      if (state.job && state.job.state === "running") schedulePoll();
    });
  }

  function schedulePoll() {
    clearTimeout(state.jobTimer);
    state.jobTimer = setTimeout(function () {
      state.jobTimer = null;
      if (state.me) loadJob();
    }, POLL_MS);
  }

  function setJob(job) {
    var wasRunning = !!(state.job && state.job.state === "running");
    state.job = job && typeof job === "object" ? job : null;
    var running = !!(state.job && state.job.state === "running");
    renderJob();
    if (running) {
      schedulePoll();
    } else {
      clearTimeout(state.jobTimer);
      state.jobTimer = null;
      if (wasRunning) {
        setInlineError($("retrain-error"), "");
        var outcome = state.job && state.job.result ? OUTCOME_LABEL[state.job.result.outcome] : "";
        showNotice("训练结束" + (outcome ? "：" + outcome : ""));
        if (state.tab === "models" || state.models.length) loadModels();
        loadIntents();
      }
    }
  }

  function elapsed(from, to) {
    var a = Date.parse(from);
    var b = to ? Date.parse(to) : Date.now();
    if (isNaN(a) || isNaN(b)) return "";
    var s = Math.max(0, Math.round((b - a) / 1000));
    return (s >= 60 ? Math.floor(s / 60) + " 分 " : "") + (s % 60) + " 秒";
  }

  function clockTime(iso) {
    var d = new Date(Date.parse(iso));
    if (isNaN(d.getTime())) return str(iso);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function renderJob() {
    var job = state.job;
    var running = !!(job && job.state === "running");
    $("retrain-start").disabled = running;
    $("retrain-start").textContent = running ? "训练中…" : "开始训练";
    $("retrain-dot").hidden = !running;
    $("job").hidden = !job;
    if (!job) {
      state.resultKey = "";
      $("result").hidden = true;
      return;
    }
    var pct = Math.max(0, Math.min(100, num(job.percent) || 0));
    $("job").classList.toggle("finished", !running);
    $("job-phase").textContent = running
      ? str(job.phase_label || PHASE_LABEL[job.phase] || job.phase)
      : "已完成";
    $("job-percent").textContent = Math.round(pct) + "%";
    $("job-bar").style.width = pct + "%";
    $("job-progress").setAttribute("aria-valuenow", String(Math.round(pct)));
    $("job-time").textContent = "开始于 " + clockTime(job.started_at) + " · " +
      (running ? "已用时 " : "用时 ") + elapsed(job.started_at, job.finished_at);

    // The log matters while it runs; once finished it folds away for the evaluation (the trainer can reopen it).
    var shownState = str(job.id) + ":" + str(job.state);
    if (shownState !== state.jobShownState) {
      state.jobShownState = shownState;
      $("job-log-box").open = running;
    }
    var log = Array.isArray(job.log) ? job.log.map(str).join("\n") : "";
    if (log !== state.jobLogKey) {
      state.jobLogKey = log;
      var pre = $("job-log");
      pre.textContent = log || "（暂无输出）";
      pre.scrollTop = pre.scrollHeight;
    }
    renderResult(running ? null : job.result);
  }

  // --- evaluation ----------------------------------------------------------------

  function renderResult(result) {
    var key = JSON.stringify(result || null);
    if (key === state.resultKey) return;
    state.resultKey = key;
    $("result").hidden = !result;
    if (!result) return;

    var outcome = str(result.outcome);
    $("result-banner").className = "result-banner outcome-" + slug(outcome);
    $("result-banner").dataset.outcome = outcome;
    $("result-outcome").textContent = OUTCOME_LABEL[outcome] || outcome;
    $("result-message").textContent = str(result.message);
    var reasons = $("result-reasons");
    clear(reasons);
    (Array.isArray(result.reasons) ? result.reasons : []).forEach(function (r) {
      reasons.appendChild(el("li", { text: str(r) }));
    });
    var link = $("report-link");
    link.hidden = !result.report_url;
    link.href = result.report_url ? str(result.report_url) : "#";

    var candidate = result.candidate && typeof result.candidate === "object" ? result.candidate : null;
    var serving = result.serving && typeof result.serving === "object" ? result.serving : null;
    $("evaluation").hidden = !candidate && !serving;
    renderSummary(candidate, serving);
    renderPerIntent(candidate, serving);
    renderConfusion(result.confusion_url);
    renderErrors(candidate);
  }

  /** "better", "worse" or "" for new vs old (higher is better). */
  function change(newValue, oldValue) {
    var a = num(newValue);
    var b = num(oldValue);
    if (a === null || b === null) return "";
    if (a - b > CHANGE_EPSILON) return "better";
    if (b - a > CHANGE_EPSILON) return "worse";
    return "";
  }

  function delta(newValue, oldValue) {
    var a = num(newValue);
    var b = num(oldValue);
    if (a === null || b === null) return "—";
    var d = a - b;
    if (Math.abs(d) < 0.0005) return "±0";
    return (d > 0 ? "+" : "−") + Math.abs(d).toFixed(3);
  }

  function metricCell(value, against, extraClass) {
    var c = change(value, against);
    return el("td", { className: "num" + (c ? " " + c : "") + (extraClass ? " " + extraClass : ""), text: fixed(value) });
  }

  function modelHeader(label, evaluation) {
    return el("th", { className: "num", title: evaluation ? str(evaluation.model) : "" }, [
      label, evaluation ? el("div", { className: "intent-name", text: shortModel(evaluation.model) }) : null,
    ]);
  }

  function shortModel(name) {
    var s = str(name);
    return s.length > 26 ? s.slice(0, 12) + "…" + s.slice(-12) : s;
  }

  function renderSummary(candidate, serving) {
    var table = $("summary-table");
    clear(table);
    table.appendChild(el("thead", null, [el("tr", null, [
      el("th", { text: "指标" }), modelHeader("候选模型（新）", candidate), modelHeader("线上模型（原）", serving),
      el("th", { className: "num", text: "变化" }),
    ])]));
    var rows = [["准确率 accuracy", "accuracy"], ["宏平均 F1 macro-F1", "macro_f1"]];
    table.appendChild(el("tbody", null, rows.map(function (row) {
      var c = candidate ? candidate[row[1]] : null;
      var s = serving ? serving[row[1]] : null;
      var ch = change(c, s);
      return el("tr", { className: ch ? "changed-" + ch : "" }, [
        el("td", { text: row[0] }), metricCell(c, s), el("td", { className: "num", text: fixed(s) }),
        el("td", { className: "num" + (ch ? " " + ch : ""), text: serving ? delta(c, s) : "—" }),
      ]);
    })));
  }

  function renderPerIntent(candidate, serving) {
    var table = $("intent-table");
    clear(table);
    var cand = candidate && candidate.per_intent && typeof candidate.per_intent === "object" ? candidate.per_intent : {};
    var serv = serving && serving.per_intent && typeof serving.per_intent === "object" ? serving.per_intent : {};
    // Domain order first, then anything else the evaluation mentions.
    var names = state.intents.map(function (i) { return str(i.name); }).filter(function (n) { return n in cand || n in serv; });
    Object.keys(cand).concat(Object.keys(serv)).forEach(function (n) { if (names.indexOf(n) < 0) names.push(n); });

    table.appendChild(el("thead", null, [
      el("tr", null, [
        el("th", { text: "意图", rowSpan: 2 }), el("th", { className: "num", text: "样例数", rowSpan: 2 }),
        el("th", { className: "num group-start", text: "候选模型（新）", colSpan: 3 }),
        el("th", { className: "num group-start", text: "线上模型（原）", colSpan: 3 }),
        el("th", { className: "num group-start", text: "F1 变化", rowSpan: 2 }),
      ]),
      el("tr", null, ["P", "R", "F1", "P", "R", "F1"].map(function (h, i) {
        return el("th", { className: "num" + (i % 3 === 0 ? " group-start" : ""), text: h });
      })),
    ]));
    var body = el("tbody");
    var changed = 0;
    names.forEach(function (name) {
      var c = cand[name] || {};
      var s = serv[name] || null;
      var ch = s ? change(c.f1, s.f1) : "";
      var moved = !s || ch || change(c.precision, s.precision) || change(c.recall, s.recall);
      if (moved) changed += 1;
      var classes = (ch ? "changed-" + ch : "") + (moved ? "" : " unchanged");
      body.appendChild(el("tr", { className: classes, dataset: { intent: name } }, [
        el("td", { title: name }, intentNodes(name)),
        el("td", { className: "num", text: str(c.support !== undefined ? c.support : s ? s.support : "") }),
        metricCell(c.precision, s && s.precision, "group-start"), metricCell(c.recall, s && s.recall), metricCell(c.f1, s && s.f1),
        el("td", { className: "num group-start", text: s ? fixed(s.precision) : "—" }),
        el("td", { className: "num", text: s ? fixed(s.recall) : "—" }),
        el("td", { className: "num", text: s ? fixed(s.f1) : "—" }),
        el("td", { className: "num group-start" + (ch ? " " + ch : ""), text: s ? delta(c.f1, s.f1) : "—" }),
      ]));
    });
    table.appendChild(body);
    // With two dozen intents, what moved is what the trainer came for: show only that when anything moved.
    $("changed-count").textContent = "（" + changed + " / " + names.length + "）";
    $("only-changed").checked = changed > 0 && changed < names.length;
    table.classList.toggle("only-changed", $("only-changed").checked);
  }

  function renderConfusion(url) {
    var img = $("confusion-img");
    $("confusion-link").href = url ? str(url) : "#";
    if (url) {
      img.src = str(url);
      img.hidden = false;
      $("confusion-missing").hidden = true;
    } else {
      img.removeAttribute("src");
      img.hidden = true;
      $("confusion-missing").hidden = false;
    }
  }

  function renderErrors(candidate) {
    var table = $("errors-table");
    clear(table);
    var errors = candidate && Array.isArray(candidate.errors) ? candidate.errors : [];
    $("errors-count").textContent = String(errors.length);
    $("errors-empty").hidden = errors.length > 0 || !candidate;
    if (!errors.length) return;
    table.appendChild(el("thead", null, [el("tr", null, [
      el("th", { text: "测试句" }), el("th", { text: "应为" }), el("th", { text: "识别为" }), el("th", { className: "num", text: "置信度" }),
    ])]));
    table.appendChild(el("tbody", null, errors.map(function (e) {
      var row = errorRow(e);
      return el("tr", null, [
        el("td", { className: "msg", text: str(row[0]) }),
        el("td", { title: str(row[1]) }, intentNodes(row[1])),
        el("td", { title: str(row[2]) }, intentNodes(row[2])),
        el("td", { className: "num", text: fixed(row[3], 2) }),
      ]);
    })));
  }

  /** [text, truth, predicted, confidence] from whichever shape the server sends:
   *  that order (the API notes), [truth, predicted, confidence, text] (Evaluation.errors), or an object. */
  function errorRow(e) {
    if (Array.isArray(e)) {
      if (e.length >= 4 && typeof e[2] === "number" && typeof e[3] === "string") return [e[3], e[0], e[1], e[2]];
      return e;
    }
    return [e && e.text, e && e.truth, e && e.predicted, e && e.confidence];
  }

  // --- models ------------------------------------------------------------------

  function loadModels() {
    return api("GET", "/api/trainer/models").then(function (models) {
      if (!state.me) return;
      state.models = Array.isArray(models) ? models : [];
      renderModels();
    }).catch(function (err) {
      if (err.status !== 401) setInlineError($("models-error"), "加载模型列表失败：" + err.message);
    });
  }

  function renderModels() {
    var body = $("models");
    clear(body);
    state.models.forEach(function (m) {
      var activate = el("button", { type: "button", className: "btn btn-small", text: "设为当前", disabled: !!m.active });
      activate.addEventListener("click", function () { onActivate(m); });
      body.appendChild(el("tr", { className: m.active ? "active" : "", dataset: { model: str(m.name) } }, [
        el("td", { className: "model-name", text: str(m.name) }),
        el("td", { text: str(m.created) }),
        el("td", { className: "num", text: m.size_mb === null || m.size_mb === undefined ? "—" : str(m.size_mb) + " MB" }),
        el("td", null, [
          m.active ? el("span", { className: "badge badge-active", text: "当前" }) : null,
          m.previous ? el("span", { className: "badge badge-previous", text: "上一个" }) : null,
        ]),
        el("td", { className: "num" }, [m.active ? null : activate]),
      ]));
    });
    $("models-empty").hidden = state.models.length > 0;
    $("rollback").disabled = !state.models.some(function (m) { return m.previous; });
  }

  function switched(data, what) {
    setInlineError($("models-error"), "");
    var name = str(data && data.active);
    if (data && data.swapped) {
      showNotice(what + "：" + name + "，正在运行的机器人已切换");
    } else {
      showNotice(what + "：" + name);
      setInlineError($("models-error"),
        "已设为当前模型，但没有连上正在运行的机器人服务（Rasa），它还在用旧模型；重启服务（./shop run）后生效。");
    }
    loadModels();
  }

  function onActivate(model) {
    confirmAction("切换模型", "把正在服务的模型切换为：\n" + str(model.name) + "（" + str(model.created) + "）？\n对话不会中断。", "切换")
      .then(function (ok) {
        if (!ok) return;
        api("POST", "/api/trainer/models/activate", { name: model.name }).then(function (data) {
          switched(data, "已设为当前模型");
        }).catch(function (err) {
          if (err.status !== 401) setInlineError($("models-error"), "切换失败：" + err.message);
        });
      });
  }

  function onRollback() {
    var previous = state.models.filter(function (m) { return m.previous; })[0];
    var message = previous
      ? "回退到上一个模型：\n" + str(previous.name) + "（" + str(previous.created) + "）？\n对话不会中断。"
      : "回退到上一个模型？";
    confirmAction("回退模型", message, "回退").then(function (ok) {
      if (!ok) return;
      $("rollback").disabled = true;
      api("POST", "/api/trainer/models/rollback").then(function (data) {
        switched(data, "已回退到");
      }).catch(function (err) {
        $("rollback").disabled = false;
        if (err.status !== 401) setInlineError($("models-error"), err.message);
      });
    });
  }

  // --- wiring ------------------------------------------------------------------

  function init() {
    kit.bindLoginForm(api, LOGIN_PATH, enterWorkspace);
    $("logout").addEventListener("click", onLogout);
    document.querySelector(".tabs").addEventListener("click", onTabClick);
    document.querySelector(".tabs").addEventListener("keydown", onTabKey);
    window.addEventListener("hashchange", function () {
      if (tabFromHash() !== state.tab) showTab(tabFromHash());
    });
    $("inbox-refresh").addEventListener("click", function () {
      if (state.inboxMode === "bulk") { state.bulk.skipped.clear(); loadBulk(); loadAgreement(); } else loadInbox();
    });
    $("mode-list").addEventListener("click", function () { setInboxMode("list"); });
    $("mode-bulk").addEventListener("click", function () { setInboxMode("bulk"); loadAgreement(); });
    ["bulk-scope", "bulk-source", "bulk-intent", "bulk-order", "bulk-min", "bulk-max"].forEach(function (id) {
      $(id).addEventListener("change", onBulkFilter);
    });
    document.addEventListener("keydown", onBulkKey);
    $("picker-filter").addEventListener("input", renderPicker);
    $("picker-filter").addEventListener("keydown", onPickerKey);
    $("intent-list").addEventListener("click", onIntentPick);
    $("intent-list").addEventListener("keydown", onIntentPick);
    $("set-train").addEventListener("click", function () { setExampleSet(false); });
    $("set-test").addEventListener("click", function () { setExampleSet(true); });
    $("example-search").addEventListener("input", onSearchInput);
    $("example-add").addEventListener("submit", onAddExample);
    $("validate").addEventListener("click", onValidate);
    $("retrain-start").addEventListener("click", onRetrain);
    $("models-refresh").addEventListener("click", loadModels);
    $("only-changed").addEventListener("change", function () {
      $("intent-table").classList.toggle("only-changed", $("only-changed").checked);
    });
    $("rollback").addEventListener("click", onRollback);
    $("confusion-img").addEventListener("error", function () {
      $("confusion-img").hidden = true;
      $("confusion-missing").hidden = false;
      $("confusion-missing").textContent = "混淆矩阵图加载失败";
    });
    // While a job runs, keep the elapsed time ticking between polls.
    setInterval(function () { if (state.job && state.job.state === "running") renderJobTime(); }, 1000);

    api("GET", "/api/trainer/me").then(function (data) {
      enterWorkspace(data.username);
    }).catch(function (err) {
      showLogin(err.status === 401 ? "" : err.message);
    });
  }

  function renderJobTime() {
    var job = state.job;
    $("job-time").textContent = "开始于 " + clockTime(job.started_at) + " · 已用时 " + elapsed(job.started_at, null);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
