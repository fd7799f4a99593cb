// Live sections: an element with data-live names a fragment of its page,
// which is fetched again every data-every milliseconds and swapped in, so
// that lists update without reloading the page. A fragment that comes back
// without data-every (an execution that ended) stops its updates. Hidden
// tabs wait; a caller whose sign-in lapsed reloads into the sign-in page.
(function () {
  "use strict";
  function schedule(el) {
    var every = Number(el.dataset.every);
    if (every > 0) {
      setTimeout(function () { refresh(el); }, every);
    }
  }
  function refresh(el) {
    if (document.hidden || !el.isConnected) {
      if (el.isConnected) schedule(el);
      return;
    }
    var url = new URL(window.location.href);
    url.searchParams.set("fragment", el.dataset.live);
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (resp) {
        if (resp.status === 401 || resp.redirected) {
          window.location.reload();
          return null;
        }
        return resp.ok ? resp.text() : null;
      })
      .then(function (html) {
        if (!html) return el;
        var t = document.createElement("template");
        t.innerHTML = html.trim();
        var fresh = t.content.firstElementChild;
        if (!fresh) return el;
        el.replaceWith(fresh);
        return fresh;
      }, function () { return el; })
      .then(function (current) { schedule(current || el); });
  }
  document.querySelectorAll("[data-live]").forEach(schedule);
})();
