// The H5 page: SMS login, 实名, home cards, the health code (QR as a blob: URL fetched with the
// bearer token), joint applications (一件事: one status and one timeline of all parts), and the
// elderly-mode switch (stored with PUT /api/v1/me/preferences).
// The access token lives in memory only: closing the page signs the browser out.
"use strict";

(function () {
  const state = { token: null, level: 0, elderly: false, timer: null, secondsLeft: 0, imageUrl: null };
  const { $, say } = h5;
  const api = h5.apiCaller({ token: () => state.token, onExpired: () => signOut("登录已过期，请重新登录。") });

  function show(id, visible) { $(id).hidden = !visible; }

  // -- login -----------------------------------------------------------------------------------
  async function sendCode() {
    try {
      startResendCountdown((await h5.sendCode(api)).resend_after);
    } catch (error) { say(error.message, true); }
  }

  function startResendCountdown(seconds) {
    const button = $("send-code");
    let left = seconds;
    button.disabled = true;
    const tick = () => {
      if (left <= 0) { button.disabled = false; button.textContent = "获取验证码"; return; }
      button.textContent = left + " 秒后可重新获取";
      left -= 1;
      setTimeout(tick, 1000);
    };
    tick();
  }

  async function login(event) {
    event.preventDefault();
    try {
      state.token = (await h5.signIn(api, "H5 网页")).access_token;
      say("登录成功。");
      await afterSignIn();
    } catch (error) { say(error.message, true); }
  }

  async function afterSignIn() {
    const me = await (await api("GET", "/api/v1/me")).json();
    state.level = me.level;
    applyElderly(me.elderly_mode);
    show("login", false);
    show("elderly-switch", true);
    show("signed-in", true);
    show("identity", state.level < 2);
    await Promise.all([loadHome(), state.level >= 2 ? loadHealthCode() : Promise.resolve(), loadJoint()]);
  }

  async function verifyIdentity(event) {
    event.preventDefault();
    try {
      const body = { name: $("name").value.trim(), id_number: $("id-number").value.trim() };
      state.level = (await (await api("POST", "/api/v1/me/identity", body)).json()).level;
      show("identity", false);
      say("实名认证成功。");
      await Promise.all([loadHome(), loadHealthCode(), loadJoint()]);
    } catch (error) { say(error.message, true); }
  }

  // -- home cards ------------------------------------------------------------------------------
  async function loadHome() {
    const home = await (await api("GET", "/api/v1/home")).json();
    const list = $("cards");
    list.replaceChildren();
    for (const card of home.cards) {
      const item = document.createElement("li");
      item.className = "card card-" + card.status;
      const title = document.createElement("h3");
      title.textContent = card.title;
      const summary = document.createElement("p");
      summary.className = "card-summary";
      summary.textContent = card.summary;
      item.append(title, summary);
      if (card.notice) {
        const notice = document.createElement("p");
        notice.className = "card-notice";
        notice.textContent = card.notice;
        item.append(notice);
      }
      list.append(item);
    }
    show("home", true);
  }

  // -- joint applications (一件事) --------------------------------------------------------------
  // Each joint application: the bundle's one status in words, how many parts are done, the parts that
  // failed with the clerk's reason, and one timeline of every part's steps in time order.
  async function loadJoint() {
    const joints = (await (await api("GET", "/api/v1/joint-applications")).json()).items;
    const list = $("joint-list");
    list.replaceChildren(...joints.map(jointBlock));
    show("joint", joints.length > 0);
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function jointBlock(joint) {
    const block = element("article", "joint joint-" + joint.status);
    block.setAttribute("aria-label", joint.bundle_name);
    block.append(element("h3", "joint-name", joint.bundle_name));
    block.append(element("p", "joint-status", joint.status_text + "（" + joint.parts_done + "/" + joint.parts_total + " 项已通过）"));
    for (const part of joint.failed_parts) {
      block.append(element("p", "joint-failed", part.item_name + "：" + part.status_text + (part.reason ? "，" + part.reason : "")));
    }
    const timeline = element("ol", "timeline");
    timeline.setAttribute("aria-label", joint.bundle_name + " 办理记录");
    for (const entry of joint.timeline) {
      const step = element("li", "timeline-step");
      const when = element("time", "timeline-time", shortTime(entry.at));
      when.dateTime = entry.at;
      step.append(when, element("span", "timeline-part", entry.item_name),
                  element("span", "timeline-state", entry.status_text + (entry.note ? "（" + entry.note + "）" : "")));
      timeline.append(step);
    }
    block.append(timeline);
    return block;
  }

  function shortTime(at) {
    const date = new Date(at);
    const two = (n) => String(n).padStart(2, "0");
    return (date.getMonth() + 1) + "月" + date.getDate() + "日 " + two(date.getHours()) + ":" + two(date.getMinutes());
  }

  // -- the health code -------------------------------------------------------------------------
  async function loadHealthCode() {
    const code = await (await api("GET", "/api/v1/health-code")).json();
    const image = await (await api("GET", "/api/v1/health-code?format=png")).blob();
    if (state.imageUrl) URL.revokeObjectURL(state.imageUrl);
    state.imageUrl = URL.createObjectURL(image);
    $("code-image").src = state.imageUrl;
    $("code-image").alt = "健康码二维码（" + code.color_text + "）";
    const colour = $("code-colour");
    colour.textContent = code.color_text;
    colour.className = "code-colour colour-" + code.color;
    $("code-reasons").textContent = code.reasons.map((r) => r.text).join("；");
    show("health-code", true);
    countDown(code.seconds_left);
  }

  function countDown(seconds) {
    clearInterval(state.timer);
    state.secondsLeft = seconds;
    $("code-seconds").textContent = String(seconds);
    state.timer = setInterval(() => {
      state.secondsLeft -= 1;
      $("code-seconds").textContent = String(Math.max(0, state.secondsLeft));
      if (state.secondsLeft <= 0) {
        clearInterval(state.timer);
        loadHealthCode().catch((error) => say(error.message, true));
      }
    }, 1000);
  }

  // -- elderly mode ----------------------------------------------------------------------------
  function applyElderly(on) {
    state.elderly = Boolean(on);
    document.body.classList.toggle("elderly", state.elderly);
    $("elderly-switch").setAttribute("aria-checked", String(state.elderly));
    $("elderly-state").textContent = state.elderly ? "开" : "关";
    if (state.elderly) applyPreset().catch(() => { /* the stylesheet's floors stay */ });
  }

  // The service's presentation preset (适老化): never smaller than this page's own floors.
  async function applyPreset() {
    const sizes = (await (await api("GET", "/api/v1/elderly/preset")).json()).sizes;
    const root = document.documentElement.style;
    root.setProperty("--elder-text", Math.max(20, sizes.body_dp) + "px");
    root.setProperty("--elder-heading", Math.max(32, sizes.heading_dp) + "px");
    root.setProperty("--elder-touch", Math.max(64, sizes.touch_target_dp) + "px");
    root.setProperty("--elder-line", String(Math.max(1.6, sizes.line_height)));
  }

  async function toggleElderly() {
    try {
      const stored = await (await api("PUT", "/api/v1/me/preferences", { elderly_mode: !state.elderly })).json();
      applyElderly(stored.elderly_mode);
      say(stored.elderly_mode ? "已开启长辈模式。" : "已关闭长辈模式。");
    } catch (error) { say(error.message, true); }
  }

  async function signOut(message) {
    if (state.token) {
      try { await fetch("/api/v1/auth/logout", { method: "POST", headers: { Authorization: "Bearer " + state.token } }); }
      catch (ignored) { /* signing out locally anyway */ }
    }
    state.token = null;
    clearInterval(state.timer);
    for (const id of ["identity", "health-code", "home", "joint", "signed-in", "elderly-switch"]) show(id, false);
    show("login", true);
    applyElderly(false);
    say(message || "已退出登录。");
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("send-code").addEventListener("click", sendCode);
    $("login-form").addEventListener("submit", login);
    $("identity-form").addEventListener("submit", verifyIdentity);
    $("elderly-switch").addEventListener("click", toggleElderly);
    $("code-refresh").addEventListener("click", () => loadHealthCode().catch((error) => say(error.message, true)));
    $("logout").addEventListener("click", () => signOut());
  });
})();
