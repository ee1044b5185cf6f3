// The consent page of "sign in with this account elsewhere" (OpenID Connect): sign in by SMS, see which
// site asks and what it would learn, approve or refuse; the browser then goes back to the site.
// The site's authorization request is this page's own query string, passed to the API as it is.
// The access token lives in memory only, as on the H5 page.
"use strict";

(function () {
  const state = { token: null, query: window.location.search.replace(/^\?/, "") };
  // The site's ui_locales (OIDC Core §3.1.2.1) first, else the browser's languages: the API words the scopes so.
  const asked = new URLSearchParams(state.query).get("ui_locales");
  const language = asked ? asked.split(" ").join(", ") : (navigator.languages || [navigator.language]).join(", ");
  const { $, say } = h5;
  const call = h5.apiCaller({ token: () => state.token, language });
  const api = async (method, path, body) => (await call(method, path, body)).json();

  async function sendCode() {
    try { await h5.sendCode(call); } catch (error) { say(error.message, true); }
  }

  async function login(event) {
    event.preventDefault();
    try {
      state.token = (await h5.signIn(call, "H5 网页（授权登录）")).access_token;
      $("login").hidden = true;
      say("");
      await ask();
    } catch (error) { $("login").hidden = false; say(error.message, true); }
  }

  async function ask() {
    const asked = await api("POST", "/api/v1/oidc/consent-requests", { query: state.query });
    if (asked.redirect_to) { window.location.assign(asked.redirect_to); return; }
    if (asked.remembered) { say("您此前已同意，正在返回 " + asked.client_name + "……"); await decide(true); return; }
    $("client-name").textContent = asked.client_name;
    const list = $("scopes");
    list.replaceChildren(...asked.scopes.map((scope) => {
      const item = document.createElement("li");
      item.className = "card";
      item.dataset.scope = scope.scope;
      item.textContent = scope.text;
      return item;
    }));
    $("consent").hidden = false;
  }

  async function decide(approve) {
    try {
      const reply = await api("POST", "/api/v1/oidc/consents", { query: state.query, approve });
      say(approve ? "已同意，正在返回网站……" : "已拒绝，正在返回网站……");
      window.location.assign(reply.redirect_to);
    } catch (error) { say(error.message, true); }
  }

  $("send-code").addEventListener("click", sendCode);
  $("login-form").addEventListener("submit", login);
  $("approve").addEventListener("click", () => decide(true));
  $("refuse").addEventListener("click", () => decide(false));
})();
