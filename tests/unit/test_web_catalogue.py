"""Every string the web UI shows comes from the one catalogue, in both languages."""

from __future__ import annotations

import re
from pathlib import Path

from edge.web.i18n import MESSAGES, translate

WEB = Path(__file__).resolve().parents[2] / "edge" / "web"


def _used() -> set[str]:
    keys: set[str] = set()
    for path in (WEB / "templates").glob("*.html"):
        text = path.read_text()
        keys |= set(re.findall(r"""_\(\s*['"]([a-z]+\.[a-z0-9_.]*[a-z0-9_])['"]""", text))
    for path in (WEB / "static" / "js").glob("*.js"):
        keys |= set(re.findall(r"""t\[["']([a-z]+\.[a-z0-9_.]+)["']\]""", path.read_text()))
    for path in (WEB / "views").glob("*.py"):
        keys |= {k for k in re.findall(r'''"((?:ex|login|setup|sy|error|bc)\.[a-z_]+)"''',
                                       path.read_text()) if not k.endswith(".html")}
    return keys


def test_every_key_used_is_in_the_catalogue_in_both_languages() -> None:
    used = _used()
    assert len(used) > 100
    used |= {f"us.role.{role}" for role in ("admin", "operator", "viewer")}  # built from a name
    missing = sorted(used - set(MESSAGES))
    assert not missing, missing
    for key, (zh, en) in MESSAGES.items():
        assert zh.strip() and en.strip(), key
        assert re.search(r"[\u4e00-\u9fff]", zh) or key in ("dash.cpu", "set.mqtt", "runner.mqtt",
                                                            "lang.other"), f"{key}: not Chinese"


def test_labels_for_kinds_and_placeholders() -> None:
    assert translate("dash.days_kept", "zh", days=3.5, minimum=90) == "已保存 3.5 天 / 法定 90 天"
    assert translate("dash.days_kept", "en", days=3.5, minimum=90) == "3.5 of 90 legal days kept"
    assert translate("no.such.key", "zh") == "no.such.key"
