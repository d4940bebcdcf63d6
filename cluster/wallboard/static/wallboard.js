// The vcc wallboard page: listens to /events (server-sent events, one board every 0.5 s) and
// redraws its tables from each board (cluster/wallboard/board.py says what a board holds).
// A token in the page's own URL (?token=...) is passed on to /events. Every figure cell
// carries its raw value in data-value (the browser test compares those with GetStatistics).
"use strict";

(function () {
  const params = new URLSearchParams(window.location.search);
  const kiosk = window.location.pathname === "/kiosk" || params.get("kiosk") === "1";
  // For the tests and for anyone curious in the console: the last board and when it was drawn.
  const state = window.wallboard = {version: 0, board: null, renderedAt: 0};

  function text(value, digits) {
    if (value === null || value === undefined) return "\u2014";     // no figure yet
    return typeof value === "number" ? value.toFixed(digits || 0) : String(value);
  }

  function pct(value) {
    return value === null || value === undefined ? "\u2014" : value.toFixed(1) + " %";
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "\u2014";
    const whole = Math.floor(seconds);
    if (whole < 60) return whole + " s";
    const minutes = Math.floor(whole / 60), rest = whole % 60;
    return minutes + ":" + String(rest).padStart(2, "0");
  }

  function ewt(seconds) {
    return seconds === null || seconds === undefined ? "\u221e" : duration(seconds);
  }

  function cell(row, content, fields) {
    const td = document.createElement("td");
    if (content instanceof Node) td.appendChild(content); else td.textContent = content;
    if (fields) {
      for (const [name, value] of Object.entries(fields)) {
        td.dataset[name] = value === null || value === undefined ? "" : String(value);
      }
    }
    row.appendChild(td);
    return td;
  }

  // SL against target: the figure, a bar filled to it and a mark at the target.
  function serviceLevel(sl, target, below) {
    const box = document.createElement("div");
    box.className = "sl" + (below ? " below" : sl === null ? " none" : " ok");
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = (sl === null ? 0 : Math.max(0, Math.min(100, sl))) + "%";
    const mark = document.createElement("div");
    mark.className = "target";
    mark.style.left = target + "%";
    bar.append(fill, mark);
    const label = document.createElement("span");
    label.className = "figure";
    label.textContent = pct(sl) + " / " + target.toFixed(0) + " %";
    box.append(label, bar);
    return box;
  }

  function fill(tableId, items, draw) {
    const body = document.querySelector("#" + tableId + " tbody");
    const rows = items.map(function (item) {
      const tr = document.createElement("tr");
      draw(tr, item);
      return tr;
    });
    body.replaceChildren.apply(body, rows);
  }

  function figures(tr, line, site, withAsa) {
    const key = {site: site, skill: line.skill};
    cell(tr, serviceLevel(line.sl_pct, line.target_pct, line.below_target),
         Object.assign({field: "sl_pct", value: line.sl_pct}, key));
    cell(tr, pct(line.sl2_pct), Object.assign({field: "sl2_pct", value: line.sl2_pct}, key));
    cell(tr, text(line.answered), Object.assign({field: "answered", value: line.answered}, key));
    cell(tr, text(line.abandoned), Object.assign({field: "abandoned", value: line.abandoned}, key));
    if (withAsa) cell(tr, duration(line.asa_s), Object.assign({field: "asa_s", value: line.asa_s}, key));
    line.queued.forEach(function (count, index) {
      const td = cell(tr, text(count), Object.assign({field: "queued", priority: index, value: count}, key));
      td.className = count ? "queued busy" : "queued";
    });
    cell(tr, duration(line.oldest_wait_s),
         Object.assign({field: "oldest_wait_s", value: line.oldest_wait_s}, key));
    line.ewt_s.forEach(function (seconds, index) {
      cell(tr, ewt(seconds), Object.assign({field: "ewt_s", priority: index, value: seconds}, key));
    });
    cell(tr, text(line.staffed), Object.assign({field: "staffed", value: line.staffed}, key));
    cell(tr, text(line.ready), Object.assign({field: "ready", value: line.ready}, key));
    if (line.below_target) tr.className = "below";
  }

  function render(board) {
    document.getElementById("updated").textContent =
      "updated " + new Date(board.time * 1000).toLocaleTimeString();
    const standby = document.getElementById("standby");
    standby.hidden = !board.standby && !board.problems.length;
    standby.textContent = [board.standby].concat(board.problems).filter(Boolean).join("; ");

    const alerts = document.getElementById("alerts");
    alerts.hidden = !board.alerts.length;
    alerts.textContent = board.alerts.length ? "Below target: " + board.alerts.map(function (a) {
      return a.skill + (a.site ? " @ " + a.site : " (center)") + " " + pct(a.sl_pct) +
        " < " + a.target_pct.toFixed(0) + " %";
    }).join(" \u00b7 ") : "";

    fill("skills", board.skills, function (tr, line) {
      cell(tr, line.skill, {field: "skill", skill: line.skill, site: "*"}).className = "name";
      figures(tr, line, "*", false);
    });
    fill("rows", board.rows, function (tr, row) {
      cell(tr, row.site).className = "name";
      cell(tr, row.skill).className = "name";
      figures(tr, row, row.site, true);
    });
    fill("sites", board.sites, function (tr, site) {
      cell(tr, site.site).className = "name";
      const sl = cell(tr, pct(site.sl_pct), {site: site.site, field: "site_sl_pct", value: site.sl_pct});
      if (site.below_target.length) sl.className = "alert-text";
      cell(tr, text(site.queued.reduce(function (a, b) { return a + b; }, 0)));
      board.agent_states.forEach(function (name) {
        const count = site.agents[name];
        cell(tr, text(count), {site: site.site, field: "agents", state: name, value: count})
          .className = "state " + name + (count ? "" : " zero");
      });
    });

    const ranking = board.ranking;
    document.getElementById("ranking-panel").hidden = !ranking;
    if (ranking) {
      fill("ranking", ranking.today.length ? ranking.today : ranking.to_date, function (tr, agent) {
        cell(tr, text(agent.rank));
        cell(tr, agent.agent_id).className = "name";
        cell(tr, text(agent.accepted), {field: "ranking_accepted", agent: agent.agent_id, value: agent.accepted});
        cell(tr, text(agent.presented));
        cell(tr, pct(agent.presentation_rate === null ? null : 100 * agent.presentation_rate));
        cell(tr, pct(agent.success_rate === null ? null : 100 * agent.success_rate));
        cell(tr, (agent.commission_cents / 100).toFixed(2));
      });
      document.querySelector("#ranking-panel h2").textContent =
        ranking.today.length ? "Marketing ranking (today)" : "Marketing ranking (to date)";
    }
    document.getElementById("campaigns-panel").hidden = !board.campaigns.length;
    fill("campaigns", board.campaigns, function (tr, c) {
      function figure(name, shown) {
        return cell(tr, shown, {field: "campaign_" + name, campaign: c.campaign, value: c[name]});
      }
      cell(tr, c.campaign).className = "name";
      cell(tr, text(c.state));
      figure("attempts", text(c.attempts));
      figure("live_answers", text(c.live_answers));
      figure("machines", text(c.machines));
      figure("connected", text(c.connected));
      figure("abandoned", text(c.abandoned));
      // Abandons against the campaign's limit (SPEC §6): red at or past it.
      figure("abandon_pct", pct(c.abandon_pct) + " / " + pct(c.abandon_limit_pct))
        .className = c.abandon_pct >= c.abandon_limit_pct && c.abandon_pct > 0 ? "alert-text" : "";
      figure("max_window_abandon_pct", pct(c.max_window_abandon_pct));
      figure("calls_up", text(c.calls_up));
      figure("list_dialled", text(c.list_dialled) + " / " + text(c.records));
    });
  }

  function setStatus(name, label) {
    const status = document.getElementById("status");
    status.className = "status " + name;
    status.textContent = label;
  }

  function listen() {
    const token = params.get("token");
    const source = new EventSource("/events" + (token ? "?token=" + encodeURIComponent(token) : ""));
    source.onmessage = function (event) {
      const board = JSON.parse(event.data);
      render(board);
      state.version = Number(event.lastEventId);
      state.board = board;
      state.renderedAt = Date.now();
      setStatus(board.standby ? "standby" : "live", board.standby ? "standby" : "live");
    };
    source.onerror = function () {
      setStatus("lost", "reconnecting");       // EventSource retries by itself
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (kiosk) document.body.classList.add("kiosk");
    listen();
  });
})();
