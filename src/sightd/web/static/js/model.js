// The Model panel: what is served (models.list, aliases skipped), its family and, while it loads,
// the load stage and progress (`GET web/model.json`, polled once a second until ready or failed).

import { api } from "./api.js";
import { $ } from "./dom.js";

export class ModelPanel {
  /** `onLoaded()` runs when the model becomes ready while the page watched (its limits are known
   * only then); `onError(err)` reports a failure. */
  constructor({ onLoaded, onError }) {
    this.name = $("model-name");
    this.family = $("model-family");
    this.stageEl = $("model-stage");
    this.progress = $("model-progress");
    this.description = $("model-description");
    this.onLoaded = onLoaded;
    this.onError = onError;
    this.model = ""; // "models/<served id>"
    this.polling = false; // a model-status request is in flight
    this.stage = ""; // the load stage last seen
  }

  /** The served model (not an alias) from a models.list answer. */
  show(body) {
    const models = Array.isArray(body.models) ? body.models : [];
    const served = models.find((m) => !String(m.description || "").startsWith("Alias of")) || models[0];
    if (!served) return;
    this.model = String(served.name);
    this.name.textContent = String(served.displayName || served.name);
    this.description.textContent =
      `${served.description || ""} Input ≤ ${served.inputTokenLimit} tokens, ` +
      `output ≤ ${served.outputTokenLimit} tokens. Also answers to gemini-* names.`;
  }

  async poll() {
    if (this.polling) return;
    this.polling = true;
    try {
      await this.pollOnce();
    } finally {
      this.polling = false;
    }
  }

  async pollOnce() {
    let status;
    try {
      status = await api.modelStatus();
    } catch {
      this.stageEl.textContent = "unknown";
      return;
    }
    const stage = String(status.stage || "");
    this.stageEl.textContent = stage;
    this.stageEl.className = `badge stage-${stage}`;
    if (status.family) {
      this.family.hidden = false;
      this.family.textContent = String(status.family);
    }
    const fraction = Number(status.fraction);
    this.progress.hidden = !(stage === "downloading" || stage === "loading");
    if (Number.isFinite(fraction) && status.fraction !== null) this.progress.value = fraction;
    else this.progress.removeAttribute("value"); // indeterminate
    const was = this.stage;
    this.stage = stage;
    if (stage !== "ready" && stage !== "failed") {
      setTimeout(() => this.poll(), 1000);
    } else if (stage === "ready" && was && was !== "ready") {
      // Loaded while we watched: the model's name and limits are known only now.
      api.listModels().then((body) => this.show(body), this.onError);
      this.onLoaded();
    }
  }
}
