"""chat/static/chat/i18n.js chooses plural forms by the catalogues' gettext expressions without eval
(the pages run under a CSP): for every shipped language its choice equals Python's gettext for
every number, and it refuses what is not a plural expression. Run with node (make install has it)."""

import gettext
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from cxhub.i18n import catalog_for

MODULE = Path(settings.BASE_DIR) / "chat" / "static" / "chat" / "i18n.js"
NUMBERS = [*range(0, 250), 1000, 1001, 1_000_000, 2_000_000, 1_000_001]


def run_node(tmp_path, script: str):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed (make install installs the npm packages with it)")
    (tmp_path / "i18n.mjs").write_text(MODULE.read_text())
    (tmp_path / "check.mjs").write_text(script)
    result = subprocess.run([node, str(tmp_path / "check.mjs")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("language", [code for code, _name in settings.LANGUAGES])
def test_the_script_picks_the_plural_form_gettext_picks(tmp_path, language):
    # given the plural expression the language's catalogue is served with
    expression = catalog_for("widget", language)["plural"] or "(n != 1)"
    python = gettext.c2py(expression)
    # when the script evaluates it for many numbers
    script = f"""
        import {{ pluralFunction }} from "./i18n.mjs";
        const plural = pluralFunction({json.dumps(expression)});
        console.log(JSON.stringify({json.dumps(NUMBERS)}.map((n) => plural(n))));
    """
    # then every choice is gettext's
    assert run_node(tmp_path, script) == [python(n) for n in NUMBERS]


def test_the_script_refuses_what_is_not_a_plural_expression_and_falls_back(tmp_path):
    script = """
        import { pluralFunction, translator, interpolate } from "./i18n.mjs";
        const refused = [];
        for (const bad of ["alert(1)", "n; fetch('x')", "(n", "n ? 1", "constructor"]) {
          try { pluralFunction(bad); } catch { refused.push(bad); }
        }
        const t = translator({ language: "ru", plural: "alert(1)", catalog: { "One": ["О1", "О2", "О3"] } });
        console.log(JSON.stringify({
          refused,
          fallback: [t.ngettext("One", "Many", 1), t.ngettext("One", "Many", 2)],
          missing: [t.gettext("Untranslated"), t.ngettext("a", "b", 1), t.ngettext("a", "b", 5)],
          named: interpolate("%(name)s has %(count)s", { name: "Ана", count: 3 }, true),
        }));
    """
    result = run_node(tmp_path, script)
    assert result["refused"] == ["alert(1)", "n; fetch('x')", "(n", "n ? 1", "constructor"]
    assert result["fallback"] == ["О1", "О2"]  # an unusable expression: "one" for 1, the next form otherwise
    assert result["missing"] == ["Untranslated", "a", "b"]
    assert result["named"] == "Ана has 3"
