// Translations for cxhub's scripts (the widget and the console), the Django way without inline
// script: a catalogue fetched as JSON from /i18n/<bundle>/<language>.json (cxhub/i18n.py), looked
// up like Django's JavaScript catalogue (gettext, ngettext, pgettext, interpolate). Plural forms
// follow the language's gettext expression, parsed here (no eval: pages run under a CSP).

// ------------------------------------------------------------------ plural expressions
// A C expression of `n` as in a catalogue's Plural-Forms header, e.g.
// "(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2)".
const TOKEN = /\s*(\d+|n|\|\||&&|==|!=|<=|>=|[-+*/%!<>?:()])/y;

export function pluralFunction(expression) {
  if (typeof expression !== "string" || !expression.trim()) return (n) => (n === 1 ? 0 : 1);
  const tokens = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < expression.length) {
    const start = TOKEN.lastIndex;
    const match = TOKEN.exec(expression);
    if (!match) {
      if (!expression.slice(start).trim()) break;
      throw new Error(`Not a plural expression: ${expression}`);
    }
    tokens.push(match[1]);
  }
  let position = 0;
  const peek = () => tokens[position];
  const take = (expected) => {
    const token = tokens[position++];
    if (expected && token !== expected) throw new Error(`Expected ${expected} in ${expression}`);
    return token;
  };
  const binary = (next, operators) => () => {
    let left = next();
    while (operators[peek()]) {
      const apply = operators[take()];
      const right = next();
      const previous = left;
      left = (n) => apply(previous(n), right(n));
    }
    return left;
  };
  const primary = () => {
    const token = take();
    if (token === "(") {
      const inner = ternary();
      take(")");
      return inner;
    }
    if (token === "n") return (n) => n;
    if (token === "!") {
      const operand = primary();
      return (n) => (operand(n) ? 0 : 1);
    }
    if (token === "-") {
      const operand = primary();
      return (n) => -operand(n);
    }
    if (/^\d+$/.test(token || "")) {
      const value = Number(token);
      return () => value;
    }
    throw new Error(`Unexpected ${token} in ${expression}`);
  };
  const multiplicative = binary(primary, {
    "*": (a, b) => a * b,
    "/": (a, b) => Math.trunc(a / b),
    "%": (a, b) => a % b,
  });
  const additive = binary(multiplicative, { "+": (a, b) => a + b, "-": (a, b) => a - b });
  const relational = binary(additive, {
    "<": (a, b) => +(a < b),
    "<=": (a, b) => +(a <= b),
    ">": (a, b) => +(a > b),
    ">=": (a, b) => +(a >= b),
  });
  const equality = binary(relational, { "==": (a, b) => +(a === b), "!=": (a, b) => +(a !== b) });
  const and = binary(equality, { "&&": (a, b) => +(a && b) });
  const or = binary(and, { "||": (a, b) => +(a || b) });
  function ternary() {
    const condition = or();
    if (peek() !== "?") return condition;
    take("?");
    const yes = ternary();
    take(":");
    const no = ternary();
    return (n) => (condition(n) ? yes(n) : no(n));
  }
  const plural = ternary();
  if (position !== tokens.length) throw new Error(`Trailing tokens in ${expression}`);
  return (n) => Number(plural(n)) || 0;
}

// ------------------------------------------------------------------ interpolation
// As Django's interpolate(): "%s" from a list, "%(name)s" from an object when `named`.
export function interpolate(format, values, named) {
  const text = String(format);
  if (named) return text.replace(/%\(\w+\)s/g, (match) => String(values[match.slice(2, -2)]));
  const list = Array.from(values || []);
  return text.replace(/%s/g, () => String(list.shift()));
}

// ------------------------------------------------------------------ translators
export function translator(data) {
  const catalog = (data && data.catalog) || {};
  const language = (data && data.language) || "en";
  let plural;
  try {
    plural = pluralFunction(data && data.plural);
  } catch {
    plural = (n) => (n === 1 ? 0 : 1);
  }
  const gettext = (text) => {
    const found = catalog[text];
    if (typeof found === "string" && found) return found;
    if (Array.isArray(found) && found[0]) return found[0];
    return text;
  };
  const ngettext = (singular, pluralText, count, key = singular) => {
    const forms = catalog[key];
    if (Array.isArray(forms)) {
      const form = forms[Math.min(plural(count), forms.length - 1)];
      if (form) return form;
    }
    return count === 1 ? singular : pluralText;
  };
  const numbers = new Intl.NumberFormat(language);
  return {
    language,
    direction: (data && data.direction) || "ltr",
    gettext,
    ngettext,
    // A context's entry is "context\x04text"; the widget's catalogue holds its own context's
    // entries without it (cxhub/i18n.py), so the plain text is looked up next.
    pgettext: (context, text) => {
      const found = catalog[`${context}\x04${text}`];
      return typeof found === "string" && found ? found : gettext(text);
    },
    npgettext: (context, singular, pluralText, count) => {
      const key = `${context}\x04${singular}`;
      return ngettext(singular, pluralText, count, key in catalog ? key : singular);
    },
    interpolate,
    number: (value) => numbers.format(value),
    time: (date) => date.toLocaleTimeString(language, { hour: "2-digit", minute: "2-digit" }),
    dateTime: (date, options) => date.toLocaleString(language, options || { dateStyle: "medium", timeStyle: "short" }),
  };
}

export const ENGLISH = translator({ language: "en", catalog: {}, plural: "(n != 1)" });

// The catalogue at `url`; English (the texts as written) when it cannot be had.
export async function loadTranslator(url, options) {
  try {
    const response = await fetch(url, { credentials: "omit", ...(options || {}) });
    if (!response.ok) return ENGLISH;
    return translator(await response.json());
  } catch {
    return ENGLISH;
  }
}
