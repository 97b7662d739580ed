/*
 * citeqa chat widget — one script tag on any page:
 *
 *   <script src="https://HOST/widget.js" async data-api="https://HOST"></script>
 *
 * Optional: data-title, data-placeholder, data-open="true". Or set window.CiteQASettings = {api, title,
 * placeholder, open} before the script loads. Public API: window.CiteQA.open(), .close(), .ask(q),
 * .on("ready" | "answer" | "feedback" | "error" | "open" | "close", fn); calls pushed onto
 * window.CiteQA = [["ask", "…"], …] before the script loaded are replayed.
 *
 * Plain JavaScript, no build step. Everything renders inside the open Shadow DOM of <citeqa-chat>, so
 * the host page's CSS cannot reach it, and every piece of corpus or user text enters the DOM as a
 * text node or attribute value: no HTML parsing of data anywhere in this file.
 *
 * Offsets in the Answer JSON count Unicode code points (Python string indices); JavaScript strings
 * count UTF-16 units, so all slicing goes through cpSlice().
 *
 * CSP for a host page: script-src <this host>; connect-src <api host>. No eval, no inline styles:
 * the stylesheet is a constructed CSSStyleSheet adopted by the shadow root.
 */
(function () {
  "use strict";

  var TAG = "citeqa-chat";
  if (!window.customElements || window.customElements.get(TAG)) {
    return; // no custom elements, or the script is already on the page
  }

  var script = document.currentScript;
  var preset = window.CiteQASettings || {};

  function setting(name, fallback) {
    var fromTag = script && script.dataset ? script.dataset[name] : undefined;
    if (fromTag !== undefined && fromTag !== "") return fromTag;
    if (preset[name] !== undefined && preset[name] !== "") return String(preset[name]);
    return fallback;
  }

  function defaultApi() {
    try {
      return new URL(script.src).origin;
    } catch (e) {
      return window.location.origin;
    }
  }

  var API = setting("api", defaultApi()).replace(/\/+$/, "");
  var TITLE = setting("title", "Ask the documents");
  var PLACEHOLDER = setting("placeholder", "Ask a question…");
  var OPEN_ON_LOAD = setting("open", "false") === "true";
  var TIMEOUT_MS = 20000;
  var MAX_QUESTION = 1000;
  var MAX_RELATED = 3;

  var CSS = [
    ":host{all:initial !important;display:block !important;position:fixed !important;",
    "right:20px !important;bottom:20px !important;left:auto !important;top:auto !important;",
    "z-index:2147483000 !important;width:auto !important;height:auto !important;",
    "margin:0 !important;padding:0 !important;border:0 !important;transform:none !important;",
    "visibility:visible !important;opacity:1 !important;",
    // Everything on :host is !important: `all` above is, and it would otherwise win.
    "font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif !important;",
    "color:#1f2328 !important}",
    "*,*::before,*::after{box-sizing:border-box}",
    "[hidden]{display:none !important}",
    ".vh{position:absolute !important;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;",
    "clip:rect(0 0 0 0);white-space:nowrap;border:0}",
    "button,textarea,input{font:inherit;color:inherit}",
    ":focus-visible{outline:3px solid #0b57d0;outline-offset:2px}",
    "textarea:focus,input:focus{outline:3px solid #0b57d0;outline-offset:1px}",
    ".launcher{display:flex;align-items:center;justify-content:center;gap:8px;min-width:56px;",
    "height:56px;padding:0 20px;border:0;border-radius:28px;background:#0b57d0;color:#fff;",
    "font-weight:600;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25)}",
    ".launcher:hover{background:#0842a0}",
    ".panel{position:absolute;right:0;bottom:72px;width:390px;max-width:calc(100vw - 40px);",
    "height:600px;max-height:calc(100vh - 112px);display:flex;flex-direction:column;",
    "background:#fff;border:1px solid #c9ced6;border-radius:14px;overflow:hidden;",
    "box-shadow:0 12px 40px rgba(0,0,0,.25)}",
    ".head{display:flex;align-items:center;gap:8px;padding:10px 12px 10px 16px;",
    "background:#0b57d0;color:#fff}",
    ".head h2{flex:1;margin:0;font-size:16px;font-weight:700;color:#fff}",
    ".close{width:44px;height:44px;border:0;border-radius:8px;background:transparent;color:#fff;",
    "font-size:24px;line-height:1;cursor:pointer}",
    ".close:focus-visible{outline-color:#fff}",
    ".intro{margin:0;padding:8px 16px;font-size:13px;color:#4d5562;border-bottom:1px solid #e4e7eb}",
    ".log{flex:1;overflow-y:auto;overscroll-behavior:contain;padding:12px 16px;",
    "display:flex;flex-direction:column;gap:16px}",
    ".exchange{display:flex;flex-direction:column;gap:8px}",
    ".q{align-self:flex-end;max-width:85%;margin:0;padding:8px 12px;border-radius:12px 12px 2px 12px;",
    "background:#e8f0fe;color:#1f2328;white-space:pre-wrap;overflow-wrap:anywhere}",
    ".a{display:flex;flex-direction:column;gap:8px;padding:10px 12px;border:1px solid #e4e7eb;",
    "border-radius:12px 12px 12px 2px;background:#fafbfc}",
    "blockquote{margin:0;padding:2px 0 2px 12px;border-left:4px solid #0b57d0;",
    "white-space:pre-wrap;overflow-wrap:anywhere}",
    "mark{background:#ffe58a;color:#1f2328;padding:0 1px;border-radius:2px}",
    ".meta{margin:0;font-size:13px;color:#4d5562}",
    ".abstain{margin:0}",
    ".label{margin:0;font-size:13px;font-weight:700;color:#4d5562}",
    ".sources{margin:0;padding:0;list-style:none;display:flex;flex-direction:column;gap:6px}",
    ".source{display:flex;flex-wrap:wrap;align-items:center;gap:4px 8px;font-size:13px}",
    ".source a{color:#0b57d0;text-decoration:underline;overflow-wrap:anywhere;",
    "display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow:hidden;flex:1 1 100%}",
    ".snippet{margin:0;flex:1 1 100%;overflow-wrap:anywhere}",
    ".disclose{border:1px solid #c9ced6;border-radius:6px;background:#fff;padding:4px 10px;",
    "min-height:32px;font-size:13px;cursor:pointer}",
    ".passage{flex:1 1 100%;margin:0;padding:8px 10px;border-radius:8px;background:#fff;",
    "border:1px solid #e4e7eb;white-space:pre-wrap;overflow-wrap:anywhere;font-size:13px;",
    "max-height:220px;overflow-y:auto}",
    ".conflicts{padding:8px 10px;border-radius:8px;background:#fff4e5;border:1px solid #f0c36d}",
    ".conflicts blockquote{border-left-color:#b35900;font-size:13px}",
    ".conflicts ul{margin:4px 0 0;padding:0;list-style:none;display:flex;flex-direction:column;gap:6px}",
    ".feedback{display:flex;flex-wrap:wrap;align-items:center;gap:6px;font-size:13px}",
    ".fb{border:1px solid #c9ced6;border-radius:16px;background:#fff;padding:4px 12px;",
    "min-height:32px;cursor:pointer}",
    ".fb[aria-pressed=true]{background:#0b57d0;border-color:#0b57d0;color:#fff}",
    ".comment{display:flex;gap:6px;flex:1 1 100%}",
    ".comment input{flex:1;min-width:0;padding:6px 8px;border:1px solid #8c959f;border-radius:6px;",
    "font-size:16px}",
    ".comment button{border:0;border-radius:6px;background:#0b57d0;color:#fff;padding:4px 12px;",
    "cursor:pointer}",
    ".thanks{margin:0;flex:1 1 100%;color:#1a7f37}",
    ".pending{padding:0 16px 8px;font-size:13px;color:#4d5562}",
    ".pending .q{margin-left:auto;margin-bottom:6px;display:block;width:fit-content}",
    ".dots::after{content:'';display:inline-block;width:1.2em;text-align:left;",
    "animation:citeqa-dots 1.2s steps(4,end) infinite}",
    "@keyframes citeqa-dots{0%{content:''}25%{content:'.'}50%{content:'..'}75%{content:'...'}}",
    ".error{margin:0 16px 8px;padding:8px 10px;border-radius:8px;background:#ffebe9;",
    "border:1px solid #ff8182;color:#82071e;font-size:13px;display:flex;gap:8px;align-items:center}",
    ".error:empty{display:none}",
    ".error button{border:1px solid #82071e;border-radius:6px;background:#fff;color:#82071e;",
    "padding:4px 10px;min-height:32px;cursor:pointer}",
    ".ask{display:flex;gap:8px;padding:10px 12px;border-top:1px solid #e4e7eb;background:#fff}",
    ".ask textarea{flex:1;min-width:0;resize:none;height:44px;max-height:120px;padding:10px 12px;",
    "border:1px solid #8c959f;border-radius:10px;font-size:16px;line-height:1.3;background:#fff}",
    ".send{min-width:64px;min-height:44px;border:0;border-radius:10px;background:#0b57d0;",
    "color:#fff;font-weight:600;cursor:pointer}",
    ".send:disabled{background:#8c959f;cursor:progress}",
    "@media (max-width:640px){",
    ":host{right:16px !important;bottom:16px !important}",
    ".disclose,.fb,.error button,.comment button{min-height:44px}",
    ".panel{position:fixed;inset:0;width:100vw;max-width:none;height:100vh;height:100dvh;",
    "max-height:none;border:0;border-radius:0;",
    "padding:env(safe-area-inset-top) env(safe-area-inset-right) env(safe-area-inset-bottom) ",
    "env(safe-area-inset-left)}}",
    "@media (prefers-reduced-motion:reduce){*{animation:none !important;transition:none !important}}"
  ].join("");

  // ---- small helpers -------------------------------------------------------------------------

  /** Build an element. Children are nodes or strings; strings become text nodes, never HTML. */
  function h(tag, props, children) {
    var el = document.createElement(tag);
    var key;
    for (key in props || {}) {
      if (!Object.prototype.hasOwnProperty.call(props, key)) continue;
      var value = props[key];
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") el.textContent = value;
      else if (key === "className") el.className = value;
      else if (key === "hidden") el.hidden = true;
      else if (key.slice(0, 2) === "on") el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === "") return;
      el.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return el;
  }

  /** Slice by Unicode code points, as the API's offsets count them. */
  function cpSlice(text, start, end) {
    return Array.from(text).slice(start, end).join("");
  }

  function cpLength(text) {
    return Array.from(text).length;
  }

  /** Text with [start, end) (code points) wrapped in <mark>; all of it as text nodes. */
  function marked(tag, text, start, end, props) {
    var n = cpLength(text);
    if (typeof start !== "number" || typeof end !== "number" || start < 0 || end > n ||
        start >= end) {
      return h(tag, props, [text]);
    }
    return h(tag, props, [
      cpSlice(text, 0, start),
      h("mark", {}, [cpSlice(text, start, end)]),
      cpSlice(text, end, n)
    ]);
  }

  function textFragment(quote) {
    var words = String(quote || "").split(/\s+/).filter(Boolean);
    var enc = function (part) {
      return encodeURIComponent(part.join(" ")).replace(/-/g, "%2D");
    };
    if (!words.length) return "";
    if (words.length <= 8) return "#:~:text=" + enc(words);
    return "#:~:text=" + enc(words.slice(0, 4)) + "," + enc(words.slice(-4));
  }

  /** Only http(s) links; anything else (javascript:, data:) falls back to our document view. */
  function citationHref(c) {
    if (c.url) {
      try {
        var u = new URL(c.url);
        if (u.protocol === "https:" || u.protocol === "http:") {
          u.hash = "";
          return u.href + textFragment(c.quote);
        }
      } catch (e) { /* not a URL: use the document view */ }
    }
    var view = new URL(API + "/documents/" + encodeURIComponent(c.doc_id));
    view.searchParams.set("start", String(c.start));
    view.searchParams.set("end", String(c.end));
    // The offsets point into the text of the version that answered, not the newest one.
    if (c.index_version) view.searchParams.set("version", String(c.index_version));
    view.hash = "quote";
    return view.href;
  }

  /** Citations carrying their answer's index_version, so their links open that version's text. */
  // Where in its document a quote sits: the heading above it and its line.
  function whereText(c) {
    var parts = [];
    if (c.section) parts.push("§ " + String(c.section).slice(0, 80));
    if (typeof c.line === "number") parts.push("line " + c.line);
    return parts.join(", ");
  }

  function pinVersion(citations, version) {
    return (Array.isArray(citations) ? citations : []).map(function (c) {
      return Object.assign({}, c, { index_version: version });
    });
  }

  /** A speech-bubble icon (inline SVG, so it needs no emoji font on the host's machine). */
  function chatIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "22");
    svg.setAttribute("height", "22");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 " +
                      "0 0 1 2-2zm3 6v2h2V9H7zm4 0v2h2V9h-2zm4 0v2h2V9h-2z");
    svg.appendChild(path);
    return svg;
  }

  /**
   * Why a request failed before any response. A browser reports a CORS refusal exactly like a
   * network error, so ask the service twice for a file it serves to any site: without CORS (an
   * opaque answer says the service is reachable) and with it (fails when this origin is not
   * allowed). Resolves to "origin", "unreachable" or "network" (reachable and allowed: transient).
   */
  function diagnose() {
    var probe = API + "/widget.js";
    var options = function (mode) { return { mode: mode, cache: "no-store", credentials: "omit" }; };
    return fetch(probe, options("no-cors")).then(function () {
      return fetch(probe, options("cors")).then(function () { return "network"; },
                                                function () { return "origin"; });
    }, function () { return "unreachable"; });
  }

  function unreachable(reason) {
    var origin = window.location.origin;
    var error;
    if (reason === "origin") {
      error = new Error("This site's origin (" + origin + ") is not allowed by the service, " +
                        "so it can't answer here.");
      console.error("citeqa: " + API + " does not allow requests from this page's origin " +
                    origin + " (CORS). Add it to the service's allowed origins, e.g. " +
                    "CITEQA_WIDGET_ORIGINS='[\"" + origin + "\"]'.");
    } else {
      error = new Error("Couldn't reach the service. Check your connection.");
      console.error("citeqa: no response from " + API + (reason === "unreachable"
        ? " (it is down or unreachable, or this page's Content-Security-Policy connect-src " +
          "does not list it)."
        : " (the connection failed; the service answers again now, so retrying may work)."));
    }
    error.reason = reason;
    return error;
  }

  var uid = 0;
  function nextId(prefix) {
    uid += 1;
    return prefix + "-" + uid;
  }

  function randomKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return "k" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }

  // ---- the element ---------------------------------------------------------------------------

  class CiteQAChat extends HTMLElement {
    constructor() {
      super();
      this._listeners = {};
      this._busy = false;
      this._lastQuestion = null;
      this._built = false;
    }

    connectedCallback() {
      if (this._built) return;
      this._built = true;
      var root = this.attachShadow({ mode: "open" });
      if ("adoptedStyleSheets" in root && typeof CSSStyleSheet === "function") {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
        root.adoptedStyleSheets = [sheet];
      } else {
        root.appendChild(h("style", { text: CSS }));
      }
      this._build(root);
      if (OPEN_ON_LOAD) this.open();
      this._emit("ready", {});
    }

    _build(root) {
      var self = this;
      this.launcher = h("button", {
        type: "button", className: "launcher", "aria-expanded": "false",
        "aria-controls": "citeqa-panel", "aria-label": TITLE,
        onclick: function () { self.toggle(); }
      }, [chatIcon(), h("span", { text: "Ask" })]);

      this.log = h("div", {
        className: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
        "aria-label": "Answers", tabindex: "0"
      });
      this.pendingQuestion = h("p", { className: "q" });
      this.pending = h("div", { className: "pending", hidden: true }, [
        this.pendingQuestion, h("span", { className: "dots", text: "Searching the documents" })
      ]);
      this.error = h("div", { className: "error", role: "alert" });
      this.input = h("textarea", {
        id: "citeqa-input", rows: "1", maxlength: String(MAX_QUESTION),
        placeholder: PLACEHOLDER, autocomplete: "off", enterkeyhint: "send",
        onkeydown: function (event) {
          if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
            event.preventDefault();
            self._submit();
          }
        }
      });
      this.send = h("button", { type: "submit", className: "send", text: "Ask" });
      var form = h("form", {
        className: "ask", novalidate: true,
        onsubmit: function (event) { event.preventDefault(); self._submit(); }
      }, [h("label", { "for": "citeqa-input", className: "vh", text: "Your question" }),
          this.input, this.send]);

      this.panel = h("section", {
        id: "citeqa-panel", className: "panel", role: "dialog", "aria-modal": "false",
        "aria-labelledby": "citeqa-title", hidden: true,
        onkeydown: function (event) {
          if (event.key === "Escape") {
            event.stopPropagation();
            self.close();
          }
        }
      }, [
        h("div", { className: "head" }, [
          h("h2", { id: "citeqa-title", text: TITLE }),
          h("button", {
            type: "button", className: "close", "aria-label": "Close", text: "×",
            onclick: function () { self.close(); }
          })
        ]),
        h("p", { className: "intro",
                 text: "Answers are quoted word for word from the documents, with their sources." }),
        this.log, this.pending, this.error, form
      ]);
      root.appendChild(h("div", { className: "root" }, [this.panel, this.launcher]));
    }

    // ---- public API ----

    on(event, fn) {
      (this._listeners[event] = this._listeners[event] || []).push(fn);
    }

    _emit(event, detail) {
      (this._listeners[event] || []).forEach(function (fn) {
        try { fn(detail); } catch (e) { /* a host page handler must not break the widget */ }
      });
      this.dispatchEvent(new CustomEvent("citeqa:" + event, { detail: detail }));
    }

    get isOpen() {
      return !!this.panel && !this.panel.hidden;
    }

    open() {
      if (!this.panel || this.isOpen) return;
      this.panel.hidden = false;
      this.launcher.setAttribute("aria-expanded", "true");
      this.input.focus();
      this._emit("open", {});
    }

    close() {
      if (!this.isOpen) return;
      this.panel.hidden = true;
      this.launcher.setAttribute("aria-expanded", "false");
      this.launcher.focus();
      this._emit("close", {});
    }

    /** Focus is in the open panel, or was dropped by it (Send is disabled while asking). */
    _focusWithin() {
      if (!this.isOpen) return false;
      if (document.activeElement === this) return true;
      return !document.activeElement || document.activeElement === document.body;
    }

    toggle() {
      if (this.isOpen) this.close(); else this.open();
    }

    ask(question) {
      this.open();
      this.input.value = String(question || "");
      this._submit();
    }

    // ---- asking ----

    _submit() {
      var question = this.input.value.trim();
      if (!question || this._busy) return;
      this.input.value = "";
      this._send(question);
    }

    _send(question) {
      var self = this;
      this._busy = true;
      this._lastQuestion = question;
      this.send.disabled = true;
      this._clearError();
      this.pendingQuestion.textContent = question;
      this.pending.hidden = false;
      this.log.setAttribute("aria-busy", "true");
      this._post("/v1/ask", { question: question }).then(function (answer) {
        if (self.input.value === question) self.input.value = ""; // asked again by Retry
        self._showAnswer(answer);
        self._emit("answer", answer);
      }).catch(function (err) {
        // Nothing typed is lost: the question goes back into the box unless another is there.
        if (!self.input.value) self.input.value = question;
        self._showError(err.message || "Something went wrong.", function () {
          self._send(question);
        });
        self._emit("error", { message: err.message, reason: err.reason || null });
      }).then(function () {
        self._busy = false;
        self.send.disabled = false;
        self.pending.hidden = true;
        self.log.removeAttribute("aria-busy");
      });
    }

    _post(path, body) {
      var controller = new AbortController();
      var timer = setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
      return fetch(API + path, {
        method: "POST", mode: "cors", credentials: "omit", signal: controller.signal,
        headers: { "content-type": "application/json" }, body: JSON.stringify(body)
      }).then(function (response) {
        if (response.ok) return response.json();
        return response.json().catch(function () { return {}; }).then(function (problem) {
          var message = "The service could not answer (" + response.status + ").";
          if (response.status === 429) {
            var wait = response.headers.get("retry-after");
            message = "Too many questions just now; try again" +
              (wait ? " in " + wait + " s." : " shortly.");
          } else if (problem && typeof problem.detail === "string" && response.status < 500) {
            message = "Couldn't ask that: " + problem.detail + ".";
          } else if (response.status === 503) {
            message = "The service is starting up or busy; try again in a moment.";
          }
          throw new Error(message);
        });
      }, function (err) {
        if (err && err.name === "AbortError") throw new Error("The answer took too long to arrive.");
        return diagnose().then(function (reason) { throw unreachable(reason); });
      }).finally(function () { clearTimeout(timer); });
    }

    _clearError() {
      while (this.error.firstChild) this.error.removeChild(this.error.firstChild);
    }

    _showError(message, retry) {
      var self = this;
      this._clearError();
      this.error.appendChild(h("span", { text: message }));
      this.error.appendChild(h("button", {
        type: "button", text: "Retry",
        onclick: function () { self._clearError(); retry(); }
      }));
    }

    // ---- rendering an answer ----

    _showAnswer(answer) {
      var body = h("div", { className: "a" });
      var citations = pinVersion(answer.citations, answer.index_version);
      if (answer.abstained) {
        body.appendChild(h("p", { className: "abstain" }, [
          h("strong", { text: "Not in the documents." }),
          " I couldn't find an answer to this in the documents, so I won't guess."
        ]));
        if (citations.length) {
          body.appendChild(h("p", { className: "label", text: "Related passages (not an answer):" }));
          body.appendChild(this._sources(citations.slice(0, MAX_RELATED), false));
        }
      } else {
        var hl = answer.highlight || {};
        var source = citations[0];
        body.appendChild(marked("blockquote", String(answer.answer || ""), hl.start, hl.end, {
          className: "answer", cite: source ? citationHref(source) : null
        }));
        body.appendChild(h("p", { className: "meta",
          text: "Confidence " + Math.round((answer.confidence || 0) * 100) + "%" }));
        if (Array.isArray(answer.conflicts) && answer.conflicts.length) {
          body.appendChild(this._conflicts(pinVersion(answer.conflicts, answer.index_version)));
        }
        if (source) {
          body.appendChild(h("p", { className: "label", text: "Source" }));
          body.appendChild(this._sources([source], true));
        }
        if (citations.length > 1) {
          body.appendChild(h("p", { className: "label", text: "Other passages" }));
          body.appendChild(this._sources(citations.slice(1, 1 + MAX_RELATED), false));
        }
      }
      body.appendChild(this._feedback(answer));
      var asked = h("p", { className: "q", tabindex: "-1" }, [
        h("span", { className: "vh", text: "You asked: " }), String(answer.question || "")]);
      var exchange = h("article", { className: "exchange" }, [asked, body]);
      this.log.appendChild(exchange);
      // Scroll the transcript only (scrollIntoView could scroll the host page too).
      this.log.scrollTop = exchange.offsetTop - this.log.offsetTop - 8;
      // Someone who asked from the panel continues at the new answer, so Tab walks its links and
      // buttons in reading order and then returns to the question box (the box and Send come
      // after the transcript). Focus elsewhere on the host page is never taken.
      if (this._focusWithin()) asked.focus({ preventScroll: true });
    }

    _sources(citations, isSource) {
      var list = h("ol", { className: "sources" });
      citations.forEach(function (c) {
        var passageId = nextId("citeqa-passage");
        var passage = c.passage || "";
        // The quote's place inside its passage, in code points.
        var qs = c.start - c.passage_start;
        var qe = c.end - c.passage_start;
        var box = marked("p", passage, qs, qe, { id: passageId, className: "passage", hidden: true });
        // The name stays "Show passage"; aria-expanded (and the arrow) carry the state.
        var arrow = h("span", { className: "arrow", "aria-hidden": "true", text: "▸ " });
        var button = h("button", {
          type: "button", className: "disclose", "aria-expanded": "false",
          "aria-controls": passageId,
          onclick: function () {
            var opening = box.hidden;
            box.hidden = !opening;
            button.setAttribute("aria-expanded", opening ? "true" : "false");
            arrow.textContent = opening ? "▾ " : "▸ ";
          }
        }, [arrow, "Show passage"]);
        var title = String(c.title || c.doc_id || "Document");
        var quote = Array.from(String(c.quote || ""));
        var quoted = /^[“"‘']/.test(quote[0] || "");  // already in quotation marks
        var snippet = isSource ? null : h("p", { className: "snippet",
          text: (quoted ? "" : "“") + quote.slice(0, 160).join("") +
                (quote.length > 160 ? "…" : "") + (quoted ? "" : "”") });
        list.appendChild(h("li", { className: "source" }, [
          snippet,
          h("a", { href: citationHref(c), target: "_blank", rel: "noopener noreferrer" },
            [title, h("span", { className: "vh", text: " (opens in a new tab)" })]),
          whereText(c) ? h("span", { className: "where", text: " · " + whereText(c) }) : null,
          button, box
        ]));
      });
      return list;
    }

    _conflicts(conflicts) {
      var items = h("ul");
      conflicts.slice(0, MAX_RELATED).forEach(function (c) {
        items.appendChild(h("li", {}, [
          h("blockquote", { text: String(c.quote || "") }),
          h("a", { href: citationHref(c), target: "_blank", rel: "noopener noreferrer" },
            [String(c.title || c.doc_id), h("span", { className: "vh", text: " (opens in a new tab)" })])
        ]));
      });
      return h("div", { className: "conflicts", role: "note" }, [
        h("p", { className: "label", text: "⚠ Sources differ" }),
        h("p", { className: "meta", text: "Other documents give a different value:" }),
        items
      ]);
    }

    _feedback(answer) {
      var self = this;
      var key = randomKey();
      var source = !answer.abstained && answer.citations && answer.citations[0];
      var ref = {
        question: answer.question, answer: answer.abstained ? null : answer.answer,
        abstained: !!answer.abstained, doc_id: source ? source.doc_id : null,
        start: source ? source.start : null, end: source ? source.end : null,
        index_version: answer.index_version, client_key: key
      };
      var thanks = h("p", { className: "thanks", role: "status" });
      var commentId = nextId("citeqa-comment");
      var commentInput = h("input", { id: commentId, type: "text", maxlength: "1000",
                                      autocomplete: "off" });
      var helpful = null;
      var commentForm = h("form", {
        className: "comment", hidden: true, novalidate: true,
        onsubmit: function (event) {
          event.preventDefault();
          var text = commentInput.value.trim();
          if (!text || helpful === null) return;
          send(helpful, text).then(function () {
            commentForm.hidden = true;
            thanks.textContent = "Thanks — your comment was sent.";
          });
        }
      }, [h("label", { "for": commentId, className: "vh", text: "Comment (optional)" }),
          commentInput, h("button", { type: "submit", text: "Send" })]);
      commentInput.setAttribute("placeholder", "Add a comment (optional)");

      function send(value, comment) {
        var body = Object.assign({}, ref, { helpful: value });
        if (comment) body.comment = comment;
        return self._post("/v1/feedback", body).then(function (result) {
          self._emit("feedback", { helpful: value, comment: comment || null, id: result.id,
                                   answer_id: result.answer_id });
          return result;
        }).catch(function (err) {
          thanks.textContent = "Feedback could not be sent: " + err.message;
          throw err;
        });
      }

      var up = h("button", { type: "button", className: "fb", "aria-pressed": "false",
                             text: "Helpful" });
      var down = h("button", { type: "button", className: "fb", "aria-pressed": "false",
                               text: "Not helpful" });
      function choose(value) {
        helpful = value;
        up.setAttribute("aria-pressed", value ? "true" : "false");
        down.setAttribute("aria-pressed", value ? "false" : "true");
        send(value).then(function () {
          thanks.textContent = "Thanks for the feedback.";
          commentForm.hidden = false;
        }).catch(function () { /* message already shown */ });
      }
      up.addEventListener("click", function () { choose(true); });
      down.addEventListener("click", function () { choose(false); });
      return h("div", { className: "feedback", role: "group", "aria-label": "Was this answer helpful?" },
               [h("span", { text: "Was this helpful?" }), up, down, commentForm, thanks]);
    }
  }

  window.customElements.define(TAG, CiteQAChat);

  // ---- mount and public API ------------------------------------------------------------------

  var element = null;
  var queued = Array.isArray(window.CiteQA) ? window.CiteQA.slice() : [];

  var publicApi = {
    open: function () { if (element) element.open(); },
    close: function () { if (element) element.close(); },
    ask: function (question) { if (element) element.ask(question); },
    on: function (event, fn) { if (element && typeof fn === "function") element.on(event, fn); },
    push: function (call) { run(call); }
  };

  function run(call) {
    if (!Array.isArray(call) || typeof publicApi[call[0]] !== "function" || call[0] === "push") return;
    publicApi[call[0]].apply(null, call.slice(1));
  }

  function mount() {
    element = document.querySelector(TAG) || document.createElement(TAG);
    // Handlers from the queue first, so "ready" reaches them.
    queued.filter(function (c) { return Array.isArray(c) && c[0] === "on"; }).forEach(run);
    if (!element.isConnected) (document.body || document.documentElement).appendChild(element);
    queued.filter(function (c) { return !(Array.isArray(c) && c[0] === "on"); }).forEach(run);
    queued = [];
  }

  window.CiteQA = publicApi;
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount, { once: true });
})();
