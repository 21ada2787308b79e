/*
 * The demo shop page (embedded mode only): lists the catalogue, lets a tester pick a seeded buyer
 * (the stand-in for the shop's own login) and starts the widget. A real shop signs its buyers itself:
 * docs/buyer-tokens.md.
 */
(function () {
  "use strict";

  var BUYER_KEY = "shopdemo.buyer"; // the demo page's "who is logged in"
  var PALETTE = [
    ["#ffb88c", "#ff7e5f"], ["#a1c4fd", "#6f9cf0"], ["#fbc2eb", "#e38bd0"], ["#b7e4c7", "#52b788"],
    ["#ffd89b", "#f4a742"], ["#c3aed6", "#8e6fbf"], ["#f6a6a6", "#e26d6d"], ["#9be7e0", "#3fb6ac"],
  ];

  function remembered() {
    try { return localStorage.getItem(BUYER_KEY) || ""; } catch (e) { return ""; }
  }
  function remember(id) {
    try {
      if (id) localStorage.setItem(BUYER_KEY, id);
      else localStorage.removeItem(BUYER_KEY);
    } catch (e) { /* private mode */ }
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  async function getToken(buyerId) {
    var response = await fetch("/api/demo/buyer-token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ buyer_id: buyerId }),
    });
    if (!response.ok) throw new Error("buyer-token " + response.status);
    var body = await response.json();
    return body.token;
  }

  function renderProducts(products) {
    var grid = document.getElementById("product-grid");
    grid.textContent = "";
    if (!products.length) {
      grid.appendChild(el("p", "shop-message", "暂无商品"));
      return;
    }
    products.forEach(function (p, i) {
      var card = el("article", "product-card");
      card.setAttribute("data-product", String(p.name || ""));
      var colours = PALETTE[i % PALETTE.length];
      var pic = el("div", "product-pic", Array.from(String(p.name || "品"))[0]);
      pic.style.background = "linear-gradient(135deg, " + colours[0] + ", " + colours[1] + ")";
      pic.setAttribute("aria-hidden", "true");
      card.appendChild(pic);

      var info = el("div", "product-info");
      info.appendChild(el("h3", "product-name", p.name));
      var price = String(p.price || "");
      info.appendChild(el("div", "product-price", price && !/^[¥￥]/.test(price) ? "¥" + price.replace(/元$/, "") : price));
      if (p.description) info.appendChild(el("p", "product-description", p.description));
      var colors = Array.isArray(p.colors) ? p.colors : [];
      if (colors.length) {
        var list = el("ul", "product-colors");
        list.setAttribute("aria-label", "可选颜色");
        colors.forEach(function (c) { list.appendChild(el("li", "product-color", c)); });
        info.appendChild(list);
      }
      var ask = el("button", "product-ask", "问问客服");
      ask.type = "button";
      ask.addEventListener("click", function () {
        window.shopWidget.open();
        var input = document.getElementById("chat-input");
        input.value = "请问" + p.name + "有什么颜色？";
        input.dispatchEvent(new Event("input", { bubbles: true }));
        input.focus();
      });
      info.appendChild(ask);
      card.appendChild(info);
      grid.appendChild(card);
    });
  }

  function renderBuyers(buyers, selected) {
    var picker = document.getElementById("buyer-picker");
    picker.textContent = "";
    picker.appendChild(new Option("匿名访客", ""));
    buyers.forEach(function (b) {
      picker.appendChild(new Option(String(b.nickname || b.id), String(b.id)));
    });
    var known = buyers.some(function (b) { return b.id === selected; });
    picker.value = known ? selected : "";
    return known ? selected : "";
  }

  async function boot() {
    var shop = { shop_name: "", products: [], buyers: [] };
    try {
      var response = await fetch("/api/demo/shop");
      if (!response.ok) throw new Error("shop " + response.status);
      shop = await response.json();
    } catch (e) {
      document.getElementById("product-grid").textContent = "";
      document.getElementById("product-grid").appendChild(el("p", "shop-message", "商品加载失败，请刷新重试"));
    }
    var name = shop.shop_name || "在线商城";
    document.title = name;
    document.getElementById("shop-name").textContent = name;
    document.getElementById("shop-logo").textContent = Array.from(name)[0] || "店";
    if (shop.products) renderProducts(shop.products);
    var buyerId = renderBuyers(shop.buyers || [], remembered());
    remember(buyerId);

    window.shopWidget.start({ shopName: name, buyerId: buyerId || null, getToken: getToken });

    document.getElementById("buyer-picker").addEventListener("change", function (e) {
      var id = e.target.value || null;
      remember(id);
      window.shopWidget.reconnect({ buyerId: id });
    });
  }

  boot();
})();
