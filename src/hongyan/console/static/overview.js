// Overview charts (Chart.js, served locally). Data comes from the page's #chart-data JSON.
document.addEventListener("DOMContentLoaded", function () {
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var daily = document.getElementById("daily-chart");
  if (daily) {
    new Chart(daily, {
      type: "bar",
      data: {
        labels: data.days.map(function (d) { return d.slice(5); }),
        datasets: [
          { label: "发送", data: data.sent, backgroundColor: "#fdba74" },
          { label: "成功", data: data.delivered, backgroundColor: "#15803d" },
          { label: "失败", data: data.failed, backgroundColor: "#b91c1c" },
        ],
      },
      options: { maintainAspectRatio: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
  }
  var carriers = document.getElementById("carrier-chart");
  if (carriers) {
    new Chart(carriers, {
      type: "doughnut",
      data: {
        labels: data.carriers,
        datasets: [{ data: data.carrier_counts, backgroundColor: ["#c2410c", "#2563eb", "#15803d", "#7c3aed", "#6b7280"] }],
      },
      options: { maintainAspectRatio: false, plugins: { legend: { position: "right" } } },
    });
  }
});
