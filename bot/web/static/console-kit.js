/* What the agents' console (console.js) and the trainers' console (trainer.js) share:
 * text-only DOM helpers, the JSON API client and the sign-in form. Loaded before
 * either page's own script; exposes window.ConsoleKit.
 *
 * Everything that comes from the server or from buyers is put on the page with
 * textContent / text nodes only (never innerHTML).
 */
(function () {
  "use strict";

  var $ = function (id) { return document.getElementById(id); };

  // --- DOM helpers (text only) -------------------------------------------------

  /** Create an element; `props` are set as properties (className, title, dataset…),
   *  children are nodes or strings (strings become text nodes). */
  function el(tag, props, children) {
    var node = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (key) {
        var value = props[key];
        if (value === undefined || value === null) return;
        if (key === "dataset") {
          Object.keys(value).forEach(function (k) { node.dataset[k] = String(value[k]); });
        } else if (key === "text") {
          node.textContent = String(value);
        } else {
          node[key] = value;
        }
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === "string" || typeof child === "number"
        ? document.createTextNode(String(child)) : child);
    });
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function str(value) {
    return value === null || value === undefined ? "" : String(value);
  }

  // --- API ---------------------------------------------------------------------

  function ApiError(status, message) {
    this.status = status;
    this.message = message;
  }

  // What each console says when the server gives no message of its own; 404 and 409 are the page's.
  var FALLBACK_ERROR = {
    400: "请求有误，请检查后重试",
    401: "登录已过期，请重新登录",
    403: "没有权限进行此操作",
  };

  /** The console's `api(method, path, body)`: fetch JSON with the session cookie, reject with
   *  an ApiError carrying a Chinese message; a 401 (except from `loginPath`) calls `onSessionLost`.
   *  `fallbackErrors` adds or overrides messages by status. */
  function createApi(loginPath, onSessionLost, fallbackErrors) {
    var fallback = Object.assign({}, FALLBACK_ERROR, fallbackErrors);
    return function api(method, path, body) {
      var options = { method: method, credentials: "same-origin", headers: { Accept: "application/json" } };
      if (body !== undefined) {
        options.headers["Content-Type"] = "application/json";
        options.body = JSON.stringify(body);
      }
      return fetch(path, options).then(
        function (response) {
          return response.text().then(function (raw) {
            var data = null;
            try { data = raw ? JSON.parse(raw) : null; } catch (e) { data = null; }
            if (response.ok) return data;
            var message = (data && typeof data === "object" && data.error) ||
              fallback[response.status] || ("服务器出错了（" + response.status + "），请稍后重试");
            if (response.status === 401 && path !== loginPath) onSessionLost();
            throw new ApiError(response.status, String(message));
          });
        },
        function () {
          throw new ApiError(0, "网络连接失败，请检查网络后重试");
        }
      );
    };
  }

  // --- sign-in form (#login-view) and workspace (#workspace) ---------------------

  function showLogin(message) {
    $("workspace").hidden = true;
    $("login-view").hidden = false;
    $("login-error").textContent = message || "";
    $("login-submit").disabled = false;
    $("login-password").value = "";
    ($("login-username").value ? $("login-password") : $("login-username")).focus();
  }

  /** Swap the sign-in form for the workspace, with the user's name in the top bar. */
  function showWorkspace(username) {
    $("me-name").textContent = username;
    $("login-view").hidden = true;
    $("workspace").hidden = false;
    $("login-error").textContent = "";
    $("login-password").value = "";
  }

  /** Submit the sign-in form to `loginPath`; `onSignedIn(username)` opens the page's workspace. */
  function bindLoginForm(api, loginPath, onSignedIn) {
    $("login-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var username = $("login-username").value.trim();
      var password = $("login-password").value;
      var errorBox = $("login-error");
      if (!username || !password) {
        errorBox.textContent = "请输入用户名和密码";
        return;
      }
      errorBox.textContent = "";
      $("login-submit").disabled = true;
      api("POST", loginPath, { username: username, password: password })
        .then(function (data) { onSignedIn(data && data.username ? data.username : username); })
        .catch(function (err) {
          errorBox.textContent = err.message;
          $("login-submit").disabled = false;
          $("login-password").select();
        });
    });
  }

  window.ConsoleKit = {
    $: $,
    el: el,
    clear: clear,
    str: str,
    createApi: createApi,
    showLogin: showLogin,
    showWorkspace: showWorkspace,
    bindLoginForm: bindLoginForm,
  };
})();
