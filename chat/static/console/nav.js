// The top nav: the agent's own availability switch (POST /api/v1/agents/me/availability/).
import { api } from "./api.js";

const select = document.getElementById("availability-switch");
if (select && !select.disabled) {
  const holder = select.closest(".availability");
  select.addEventListener("change", async () => {
    const wanted = select.value;
    const previous = holder.dataset.current;
    holder.dataset.current = wanted;
    try {
      const agent = await api("/api/v1/agents/me/availability/", { method: "POST", body: { availability: wanted } });
      holder.dataset.current = agent.availability;
      select.value = agent.availability;
      document.dispatchEvent(new CustomEvent("cxhub:availability", { detail: agent }));
    } catch (error) {
      holder.dataset.current = previous;
      select.value = previous;
    }
  });
}

// The console's language (the agent's profile): a plain form, sent as soon as a language is picked.
const languageForm = document.getElementById("language-form");
if (languageForm) {
  languageForm.querySelector(".js-hidden")?.setAttribute("hidden", "");
  document.getElementById("language-switch").addEventListener("change", () => languageForm.requestSubmit());
}
