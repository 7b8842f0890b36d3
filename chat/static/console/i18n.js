// The console's texts in the agent's language: the page's <html lang> (their profile's choice, else
// their browser's: cxhub.middleware.LanguageMiddleware), from /i18n/console/<language>.json. Texts
// are marked gettext(…) / ngettext(…) as in Django's JavaScript catalogue; format() fills
// "%(name)s" placeholders. Numbers, dates and times follow the same language.
import { ENGLISH, interpolate, loadTranslator } from "../chat/i18n.js";

const wanted = document.documentElement.lang || "en";
const translation = /^en(-|$)/i.test(wanted)
  ? ENGLISH
  : await loadTranslator(`/i18n/console/${encodeURIComponent(wanted)}.json`, { credentials: "same-origin" });

export const language = translation.language === "en" ? wanted : translation.language;
export const { gettext, ngettext, pgettext } = translation;

export function format(text, values) {
  return interpolate(text, values, true);
}

const numbers = new Intl.NumberFormat(language);
export const number = (value) => numbers.format(value);
