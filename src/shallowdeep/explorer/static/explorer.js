// shallowdeep explore: the page's behaviour. It talks to this server's /api/ and to nothing else.
"use strict";

const $ = (selector) => document.querySelector(selector);

/** A DOM element; "text" sets its text (never parsed as HTML), any other key an attribute. */
function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

/** JSON from the API, or an Error carrying the server's sentence about what went wrong. */
async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail ?? "");
    throw new Error(`${response.status}: ${detail || response.statusText}`);
  }
  return body;
}

function setStatus(state, text) {
  const status = $("#status");
  status.dataset.state = state;
  status.textContent = text;
}

const percent = (p) => `${(100 * p).toFixed(1)} %`;
let runs = [];

// -- Draw a digit ---------------------------------------------------------------------------------

const pad = $("#pad");
const pen = pad.getContext("2d");
let lastPoint = null;

function clearPad() {
  pen.fillStyle = "#000";
  pen.fillRect(0, 0, pad.width, pad.height);
}

function padPoint(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width, (event.clientY - box.top) * pad.height / box.height];
}

function stroke(from, to) {
  pen.strokeStyle = "#fff";
  pen.lineWidth = Number($("#pen").value);
  pen.lineCap = "round";
  pen.lineJoin = "round";
  pen.beginPath();
  pen.moveTo(...from);
  pen.lineTo(...to);
  pen.stroke();
}

// Pointer events cover the mouse, fingers and pens alike.
pad.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  lastPoint = padPoint(event);
  stroke(lastPoint, lastPoint);
  drawingChanged();
});
pad.addEventListener("pointermove", (event) => {
  if (!lastPoint) return;
  const point = padPoint(event);
  stroke(lastPoint, point);
  lastPoint = point;
  drawingChanged();
});
for (const type of ["pointerup", "pointercancel"]) pad.addEventListener(type, () => { lastPoint = null; });
$("#clear").addEventListener("click", () => { clearPad(); drawingChanged(); });

// The drawing is sent whenever it changed and no request is on its way: while one is, changes
// pile up into the next. The page is "in sync" when the answers shown are those of the drawing.
let wanted = 0, shown = 0, busy = false;

function drawingChanged() {
  wanted += 1;
  setStatus("updating", "updating…");
  sendDrawing();
}

async function sendDrawing() {
  if (busy || shown === wanted) return;
  busy = true;
  const version = wanted;
  try {
    const png = await new Promise((resolve) => pad.toBlob(resolve, "image/png"));
    const inside = $("#inside-run").value;
    const reading = await api(`/api/digit${inside ? `?inside=${encodeURIComponent(inside)}` : ""}`,
                              { method: "POST", headers: { "Content-Type": "image/png" }, body: png });
    showReading(reading);
    shown = version;
    busy = false;
    if (shown !== wanted) sendDrawing();
    else setStatus("in-sync", reading.empty ? "in sync: draw a digit"
      : `in sync: ${reading.answers.length} models answered in ${reading.milliseconds.toFixed(1)} ms`);
  } catch (error) {
    shown = version;
    busy = false;
    setStatus("error", error.message);
  }
}

function buildAnswers() {
  const digitRuns = runs.filter((run) => run.digits);
  const answers = $("#answers");
  if (!digitRuns.length) {
    answers.replaceChildren(element("p", { class: "hint", text: "No MNIST run here: train some with `shallowdeep lab --quick`." }));
    return;
  }
  answers.replaceChildren(...digitRuns.map((run) => element("article", { class: "answer", "data-run": run.key },
    element("h3", {}, element("span", { text: run.label }), element("span", { class: "predicted", text: "–" })),
    element("div", { class: "family", text: `${run.family} · test accuracy ${run.test_accuracy.toFixed(4)}` }),
    element("div", { class: "bars" }, ...run.classes.map((name) => element("div", { class: "bar" },
      element("span", { text: name }), element("span", { class: "track" }, element("span", { class: "fill" })),
      element("span", { class: "value", text: "" })))))));
}

function showSeen(image) {
  const seen = $("#seen").getContext("2d");
  const pixels = seen.createImageData(28, 28);
  image.flat().forEach((grey, index) => pixels.data.set([grey, grey, grey, 255], 4 * index));
  seen.putImageData(pixels, 0, 0);
}

function showReading(reading) {
  showSeen(reading.image);
  const byRun = new Map(reading.answers.map((answer) => [answer.run, answer]));
  for (const card of document.querySelectorAll(".answer")) {
    const answer = byRun.get(card.dataset.run);
    const probabilities = answer ? answer.probabilities : null;
    const top = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : -1;
    card.querySelector(".predicted").textContent = answer ? answer.predicted : "–";
    if (answer) card.dataset.predicted = answer.predicted; else delete card.dataset.predicted;
    card.querySelectorAll(".bar").forEach((bar, index) => {
      const p = probabilities ? probabilities[index] : 0;
      bar.dataset.probability = String(p);
      bar.classList.toggle("top", index === top);
      bar.querySelector(".fill").style.width = percent(p).replace(" ", "");
      bar.querySelector(".value").textContent = probabilities ? percent(p) : "";
    });
  }
  showInside(reading.inside);
}

// -- Inside a network -------------------------------------------------------------------------------

function picture(src, alt, scale) {
  const image = element("img", { src, alt, class: "pixelated" });
  image.addEventListener("load", () => { image.style.width = `${image.naturalWidth * scale}px`; }, { once: true });
  return image;
}

function showInside(inside) {
  const view = $("#inside-view");
  if (!inside) {
    view.replaceChildren(element("p", { class: "hint", text: "Draw a digit above." }));
    return;
  }
  view.dataset.kind = inside.kind;
  if (inside.kind === "hog") {
    const hog = inside.hog;
    view.replaceChildren(element("figure", {}, picture(hog.picture, "HOG glyphs of the drawing", 1.5),
      element("figcaption", { text: `HOG of the 28 × 28 drawing: ${hog.orientations} orientations in `
        + `${hog.pixels_per_cell} × ${hog.pixels_per_cell}-pixel cells, ${hog.features} features. Each cell draws `
        + "one line per orientation bin, along the edges that voted for it, as bright as their gradients." })));
  } else if (inside.kind === "cnn") {
    const filters = inside.filters;
    view.replaceChildren(
      element("figure", {}, picture(filters.picture, "first layer's filters", 8),
        element("figcaption", { text: `${filters.layer}: the first layer's ${filters.shape[3]} filters of `
          + `${filters.shape[0]} × ${filters.shape[1]} weights (red adds a pixel's brightness, blue subtracts it).` })),
      ...inside.feature_maps.map((maps) => element("figure", { class: "feature-maps" },
        picture(maps.picture, `feature maps of ${maps.layer}`, maps.shape[0] <= 14 ? 4 : 2),
        element("figcaption", { text: `${maps.layer}: ${maps.shape[2]} feature maps of ${maps.shape[0]} × `
          + `${maps.shape[1]}, after the activation (bright: strongly lit by this drawing).` }))));
  } else {
    view.replaceChildren(element("p", { class: "hint", text: "An MLP on pixels reads the 784 grey levels as they "
      + "are: each unit of its first layer weighs every pixel, and there is no picture between the input and the "
      + "answer. Choose a HOG model or a CNN to look inside." }));
  }
}

// -- Mistakes -----------------------------------------------------------------------------------------

// Each choice of a run takes a ticket, and so does each click on a cell; an answer that arrives after a newer
// choice is dropped, so a slow response never paints over what the user chose since.
let matrixTicket = 0;
let cellTicket = 0;

async function showMatrix() {
  const key = $("#mistakes-run").value;
  const ticket = ++matrixTicket;
  cellTicket++;
  const matrixBox = $("#matrix");
  const cellBox = $("#cell");
  cellBox.replaceChildren();
  delete cellBox.dataset.count;
  delete matrixBox.dataset.run;
  if (!key) return;
  try {
    const confusion = await api(`/api/runs/${encodeURIComponent(key)}/confusion`);
    if (ticket !== matrixTicket) return;
    const head = element("tr", {}, element("th", { text: "true ↓ · answer →" }),
      ...confusion.classes.map((name) => element("th", { text: name })));
    const rows = confusion.matrix.map((counts, t) => {
      const total = counts.reduce((a, b) => a + b, 0) || 1;
      return element("tr", {}, element("th", { text: confusion.classes[t] }), ...counts.map((count, p) => {
        const button = element("button", { type: "button", "data-true": t, "data-predicted": p, "data-count": count,
          class: t === p ? "diagonal" : "", text: String(count),
          title: `${count} test images of ${confusion.classes[t]} answered ${confusion.classes[p]}` });
        const share = count / total;
        button.style.background = `rgba(47, 111, 222, ${share.toFixed(3)})`;
        button.style.color = share > 0.6 ? "#fff" : "";
        button.addEventListener("click", () => showCell(key, t, p, button));
        return element("td", {}, button);
      }));
    });
    const note = confusion.threshold == null ? "" : ` at threshold ${confusion.threshold.toFixed(3)}`;
    matrixBox.replaceChildren(element("p", { class: "hint", text: `${confusion.samples} test images, accuracy `
      + `${confusion.accuracy.toFixed(4)}${note}.` }), element("table", {}, element("thead", {}, head),
      element("tbody", {}, ...rows)));
    if (confusion.unavailable) matrixBox.append(element("p", { class: "error", text: confusion.unavailable }));
    matrixBox.dataset.run = key;
  } catch (error) {
    if (ticket === matrixTicket) matrixBox.replaceChildren(element("p", { class: "error", text: error.message }));
  }
}

async function showCell(key, t, p, button) {
  if (key !== $("#mistakes-run").value) return;  // a click on the matrix of the run chosen before
  document.querySelectorAll(".matrix button.chosen").forEach((other) => other.classList.remove("chosen"));
  button.classList.add("chosen");
  const ticket = ++cellTicket;
  const box = $("#cell");
  box.replaceChildren(element("p", { class: "hint", text: "loading…" }));
  delete box.dataset.count;
  try {
    const cell = await api(`/api/runs/${encodeURIComponent(key)}/cell?true=${t}&predicted=${p}`);
    if (ticket !== cellTicket) return;
    const figures = cell.items.map((item) => {
      const order = item.probabilities.map((value, index) => [value, index]).sort((a, b) => b[0] - a[0]);
      const lines = order.slice(0, 2).map(([value, index]) => `P(${cell.classes[index]}) ${value.toFixed(3)}`);
      return element("figure", { "data-row": item.row },
        element("img", { src: item.image, loading: "lazy", alt: `test image ${item.test_index}` }),
        element("figcaption", { text: `${lines.join(", ")} · #${item.test_index}` }));
    });
    box.replaceChildren(element("h3", { text: `true ${cell.true}, answered ${cell.predicted}: ${cell.count} test `
      + `image${cell.count === 1 ? "" : "s"}, most confident first` }), element("div", { class: "cell-images" }, ...figures));
    box.dataset.count = cell.count;
  } catch (error) {
    if (ticket === cellTicket) box.replaceChildren(element("p", { class: "error", text: error.message }));
  }
}

// -- Chest X-ray ----------------------------------------------------------------------------------------

const SOURCES = { validation: "chosen on validation", experiment: "fixed in the experiment", default: "the default",
  adapted: "set for the new site" };

async function readXray() {
  const file = $("#xray-file").files[0];
  const key = $("#xray-run").value;
  const box = $("#xray-result");
  if (!file || !key) return;
  box.replaceChildren(element("p", { class: "hint", text: "reading…" }));
  delete box.dataset.verdict;
  try {
    const answer = await api(`/api/xray?run=${encodeURIComponent(key)}`,
      { method: "POST", headers: { "Content-Type": file.type || "application/octet-stream" }, body: file });
    const layers = [element("img", { src: answer.image, alt: "the X-ray as the model saw it" })];
    const heat = answer.heatmap ? element("img", { src: answer.heatmap, alt: "Grad-CAM heat map", class: "heat" }) : null;
    if (heat) layers.push(heat);
    const opacity = element("input", { type: "range", min: "0", max: "100", value: "100", "aria-label": "heat map opacity" });
    opacity.addEventListener("input", () => { if (heat) heat.style.opacity = String(opacity.value / 100); });
    const facts = [
      [`P(${answer.positive_class})`, answer.probability.toFixed(4)],
      ...answer.verdicts.map((v) => [`threshold ${SOURCES[v.threshold_source] || v.threshold_source}`,
        `${v.threshold.toFixed(3)} → ${v.verdict}`]),
      ...(answer.as_trained ? [[`as trained (${answer.as_trained.run})`,
        `P ${answer.as_trained.probability.toFixed(4)}, threshold ${answer.as_trained.threshold.toFixed(3)} → ${answer.as_trained.verdict}`]] : []),
      ["image", `${answer.original_size[1]} × ${answer.original_size[0]}, read at ${answer.size[1]} × ${answer.size[0]}`],
      ["Grad-CAM", answer.heatmap ? `evidence for ${answer.heatmap_class}, at ${answer.grad_cam_layer}` : "none (no convolution)"],
    ];
    box.dataset.verdict = answer.verdict;
    box.replaceChildren(element("div", { class: "overlay" }, ...layers), element("div", {},
      element("div", { class: "verdict", text: `${answer.verdict}` }),
      element("div", { class: "hint", text: `at the run's threshold ${SOURCES[answer.threshold_source] || ""}` }),
      element("dl", {}, ...facts.flatMap(([name, value]) => [element("dt", { text: name }), element("dd", { text: value })])),
      element("label", {}, "heat map ", opacity)));
  } catch (error) {
    box.replaceChildren(element("p", { class: "error", text: error.message }));
  }
}

// -- Start ------------------------------------------------------------------------------------------------

function fillSelect(select, choices, empty) {
  select.replaceChildren(...choices.map((run) => element("option", { value: run.key, text: `${run.label} (${run.family})` })));
  if (!choices.length) select.replaceChildren(element("option", { value: "", text: empty }));
}

async function start() {
  clearPad();
  try {
    runs = await api("/api/runs");
  } catch (error) {
    setStatus("error", error.message);
    return;
  }
  const digitRuns = runs.filter((run) => run.digits);
  fillSelect($("#inside-run"), digitRuns, "no MNIST run");
  const firstCnn = digitRuns.find((run) => run.inside === "cnn");
  if (firstCnn) $("#inside-run").value = firstCnn.key;
  fillSelect($("#mistakes-run"), runs, "no run");
  fillSelect($("#xray-run"), runs.filter((run) => run.xray), "no chest X-ray run: train xray-1 (shallowdeep lab)");
  buildAnswers();
  $("#inside-run").addEventListener("change", drawingChanged);
  $("#mistakes-run").addEventListener("change", showMatrix);
  $("#xray-run").addEventListener("change", readXray);
  $("#xray-file").addEventListener("change", readXray);
  await showMatrix();
  setStatus("in-sync", `in sync: ${runs.length} runs loaded; draw a digit`);
}

start();
