// What the H5 pages share (the citizen page and the OpenID Connect consent page): the SMS login form,
// the status line, and the call to the API. Loaded before each page's own script, which uses it as `h5`.
"use strict";

window.h5 = (function () {
  const $ = (id) => document.getElementById(id);

  // The SMS login form, written once here and filled into each page's empty <form id="login-form">.
  const LOGIN_FIELDS = `
    <label for="phone">手机号码</label>
    <input id="phone" name="phone" type="tel" inputmode="numeric" autocomplete="tel" maxlength="13"
           placeholder="请输入 11 位手机号" required>
    <button id="send-code" class="button secondary" type="button">获取验证码</button>
    <label for="code">短信验证码</label>
    <input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="6"
           placeholder="6 位数字" required>
    <button id="login-button" class="button primary" type="submit">登录</button>`;

  function fillLoginForm() {
    const form = $("login-form");
    if (form) form.innerHTML = LOGIN_FIELDS;
  }

  // The status line under the top bar (role="status"): what happened, or what went wrong.
  function say(text, isError) {
    const status = $("status");
    status.textContent = text || "";
    status.classList.toggle("error", Boolean(isError));
  }

  // A caller of the API for one page. `options.token()` is the access token held in memory (or null),
  // `options.language` the Accept-Language, `options.onExpired` what a signed-in call answered 401 does.
  // A failure throws an Error whose message is the API's own (already in the asked language).
  function apiCaller(options) {
    return async function api(method, path, body) {
      const token = options.token();
      const headers = { "Accept-Language": options.language || "zh-Hans" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (token) headers.Authorization = "Bearer " + token;
      const reply = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      if (reply.status === 401 && token && options.onExpired) {
        options.onExpired();
        throw new Error("signed out");
      }
      if (!reply.ok) {
        let message = "系统繁忙，请稍后再试。";
        try { message = (await reply.json()).error.message || message; } catch (ignored) { /* not JSON */ }
        throw new Error(message);
      }
      return reply;
    };
  }

  // Ask for an SMS code for the phone typed in the form; says how long it is valid and moves to the code field.
  async function sendCode(api) {
    const reply = await (await api("POST", "/api/v1/auth/otp", { phone: $("phone").value.trim() })).json();
    say("验证码已发送，" + Math.round(reply.expires_in / 60) + " 分钟内有效。");
    $("code").focus();
    return reply;
  }

  // Sign in with the phone and code typed in the form; the reply holds the access token.
  async function signIn(api, deviceName) {
    const body = { phone: $("phone").value.trim(), code: $("code").value.trim(), device_name: deviceName };
    return (await api("POST", "/api/v1/auth/login", body)).json();
  }

  fillLoginForm();
  return Object.freeze({ $, say, apiCaller, sendCode, signIn });
})();
