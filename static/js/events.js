// One WebSocket per page to /ws/events/: every server push arrives here and is re-dispatched as a
// DOM event `platform:<type>` (e.g. `platform:price.update`) for the page's own scripts and for
// htmx triggers. Reconnects with jittered backoff so a server restart heals by itself.
(function () {
  "use strict";
  const path = document.body.dataset.eventsUrl;
  if (!path) return;
  const badge = document.getElementById("live-status");
  const log = document.getElementById("event-log");
  let attempt = 0;
  let socket = null;
  let symbols = [];

  // Pages call platformEvents.subscribe(["BTCUSDT", ...]) to receive those symbols' prices;
  // the wish is remembered and sent again after every reconnect.
  window.platformEvents = {
    subscribe: function (wanted) {
      symbols = wanted;
      sendSubscription();
    },
    refreshPartial: refreshPartial,
  };

  // Fetch a partial again (its element's id and data-partial-url, swapped outerHTML). Several
  // events often arrive together (a decision, its order, its fill, the position): one refresh
  // each. htmx drops a request whose source already has one in flight, so an event arriving
  // meanwhile asks for one more refresh after it. A form inside the partial with its request
  // in flight (an approval, a cancel) goes first: its answer replaces the partial, and the
  // refresh after it keeps the answer's message ("Entry #3 approved.").
  const pending = {};
  const busy = {};
  function refreshPartial(id) {
    clearTimeout(pending[id]);
    pending[id] = setTimeout(function () {
      const holder = document.getElementById(id);
      if (!holder || !window.htmx) return;
      if (holder.querySelector(".htmx-request")) { refreshPartial(id); return; }
      if (busy[id]) { busy[id] = "again"; return; }
      busy[id] = true;
      const messages = Array.from(holder.querySelectorAll(":scope > [data-outcome]"));
      htmx.ajax("GET", holder.dataset.partialUrl,
                { source: holder, target: holder, swap: "outerHTML" })
        .then(function () { keepMessages(id, messages); })
        .finally(function () {
          const again = busy[id] === "again";
          busy[id] = false;
          if (again) refreshPartial(id);
        });
    }, 120);
  }

  function keepMessages(id, messages) {
    const fresh = document.getElementById(id);
    if (!fresh || !messages.length || fresh.querySelector(":scope > [data-outcome]")) return;
    fresh.prepend(...messages);
  }

  function sendSubscription() {
    if (socket && socket.readyState === WebSocket.OPEN && symbols.length) {
      socket.send(JSON.stringify({ type: "subscribe", symbols: symbols }));
    }
  }

  function setOnline(online) {
    if (!badge) return;
    badge.textContent = online ? "live" : "offline";
    badge.classList.toggle("online", online);
  }

  function record(event) {
    if (!log) return;
    if (log.dataset.started !== "1") { log.innerHTML = ""; log.dataset.started = "1"; }
    const item = document.createElement("li");
    item.textContent = new Date().toISOString().slice(11, 19) + " " + event.type + " " + JSON.stringify(event.data);
    log.prepend(item);
    while (log.children.length > 50) log.lastChild.remove();
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + path);
    socket.onopen = function () { attempt = 0; setOnline(true); sendSubscription(); };
    socket.onmessage = function (message) {
      const event = JSON.parse(message.data);
      if (!event.type.startsWith("price.") && !event.type.startsWith("candle.")) record(event);
      document.dispatchEvent(new CustomEvent("platform:" + event.type, { detail: event.data }));
    };
    socket.onclose = function () {
      setOnline(false);
      // A refused handshake (logged out) looks like any other drop here; the backoff keeps
      // retries rare, and the next page load redirects to the login page anyway.
      const delay = Math.min(30000, 500 * 2 ** attempt++) * (0.5 + Math.random());
      setTimeout(connect, delay);
    };
  }
  connect();
})();
