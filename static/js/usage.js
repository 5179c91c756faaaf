// Usage page chart (Chart.js, vendored in static/vendor/chartjs): data from the json_script element
// #usage-chart-data (no inline scripts: CSP). Tokens as stacked bars, cost (USD) as a line on its own
// axis: null (every call's price unknown) is a gap, never $0; buckets with some unknown prices get a
// triangle and say so in the tooltip.
(() => {
  const canvas = document.getElementById("usage-chart");
  const source = document.getElementById("usage-chart-data");
  if (!canvas || !source || typeof window.Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const usd = (v) => (v === null || v === undefined ? "unknown" : "$" + (v < 0.01 && v > 0 ? v.toPrecision(2) : v.toFixed(2)));
  const chart = new window.Chart(canvas, {
    data: {
      labels: data.labels,
      datasets: [
        { type: "bar", label: "Input tokens", data: data.input_tokens, stack: "tokens", yAxisID: "tokens", backgroundColor: "#8f86f5" },
        { type: "bar", label: "Output tokens", data: data.output_tokens, stack: "tokens", yAxisID: "tokens", backgroundColor: "#3f33c4" },
        {
          type: "line", label: "Cost (USD)", data: data.cost_usd, yAxisID: "cost", borderColor: "#22a06b",
          backgroundColor: "#22a06b", spanGaps: false, tension: 0.2,
          pointStyle: data.unknown_calls.map((n) => (n > 0 ? "triangle" : "circle")),
          pointRadius: data.unknown_calls.map((n) => (n > 0 ? 6 : 2)),
          pointBackgroundColor: data.unknown_calls.map((n) => (n > 0 ? "#d97706" : "#22a06b")),
        },
      ],
    },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        tokens: { position: "left", beginAtZero: true, stacked: true, title: { display: true, text: "tokens" } },
        cost: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "USD" } },
        x: { stacked: true, ticks: { maxRotation: 0, autoSkip: true } },
      },
      plugins: {
        tooltip: {
          callbacks: {
            label: (ctx) => (ctx.dataset.yAxisID === "cost" ? `Cost: ${usd(ctx.raw)}` : `${ctx.dataset.label}: ${ctx.formattedValue}`),
            afterBody: (items) => {
              const n = data.unknown_calls[items[0].dataIndex];
              return n > 0 ? `${n} call(s) with unknown price: cost is a lower bound` : "";
            },
          },
        },
      },
    },
  });
  canvas.dataset.ready = String(chart.data.labels.length);
})();
