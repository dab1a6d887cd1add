// The operators' system chart: messages per minute by state (Chart.js, served locally), refreshed every 10 s.
document.addEventListener("DOMContentLoaded", function () {
  var canvas = document.getElementById("system-chart");
  if (!canvas || typeof Chart === "undefined") return;
  var colors = {
    accepted: "#9ca3af", queued: "#fdba74", submitted: "#60a5fa", delivered: "#15803d",
    undelivered: "#b91c1c", expired: "#a16207", rejected: "#7c3aed", failed: "#4b5563",
  };
  var chart = null;
  function draw(data) {
    var states = Object.keys(data.series);
    var datasets = states.map(function (s) {
      return { label: (data.names && data.names[s]) || s, data: data.series[s], backgroundColor: colors[s] || "#6b7280" };
    });
    if (chart) {
      chart.data.labels = data.labels;
      chart.data.datasets = datasets;
      chart.update("none");
      return;
    }
    chart = new Chart(canvas, {
      type: "bar",
      data: { labels: data.labels, datasets: datasets },
      options: {
        maintainAspectRatio: false,
        animation: false,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
  }
  function load() {
    fetch(canvas.dataset.src, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) draw(data); })
      .catch(function () {});
  }
  load();
  setInterval(load, 10000);
});
