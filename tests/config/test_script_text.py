"""Text in a scripted-provider script that is not valid UTF-8 is replaced with U+FFFD and said
in a `notice`; the run succeeds instead of failing on serialization."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mentra._text import clean_text, clean_tree, decode_text


def test_lone_surrogate_in_script_text(mentra: Any, tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_text('turns:\n  - text: "caf\\ud800 ok \\ud83d\\ude00"\n', encoding="utf-8")
    r = mentra("run", "-m", f"scripted:{script}", "hi", "--ephemeral")
    assert r.code == 0, r.stderr
    assert "Traceback" not in r.stderr
    done = r.events[-1]
    assert done["status"] == "success"
    assert done["final_text"] == "caf\ufffd ok \U0001f600"  # the pair is one character
    notices = [e for e in r.events if e["type"] == "notice"]
    assert any(f"{script}:2:11" in n["message"] and "UTF-8" in n["message"] for n in notices)


def test_undecodable_bytes_in_script_file(mentra: Any, tmp_path: Path) -> None:
    script = tmp_path / "s.yaml"
    script.write_bytes(b"turns:\n  - text: caf\xe9\n")
    r = mentra("run", "-m", f"scripted:{script}", "hi", "--ephemeral")
    assert r.code == 0, r.stderr
    assert r.events[-1]["final_text"] == "caf\ufffd"
    assert any(e["type"] == "notice" and "UTF-8" in e["message"] for e in r.events)


def test_clean_helpers() -> None:
    assert clean_text("plain") == ("plain", False)
    assert clean_text("a\udce9b") == ("a\ufffdb", True)  # a surrogateescape'd byte
    assert clean_text("\ud83d\ude00") == ("\U0001f600", True)
    assert decode_text(b"caf\xc3\xa9") == ("caf\u00e9", False)
    assert decode_text(b"caf\xe9") == ("caf\ufffd", True)
    tree, where = clean_tree({"a": ["x", "y\ud800"], "k\udc80": 1})
    assert tree == {"a": ["x", "y\ufffd"], "k\ufffd": 1}
    assert where == [("a", 1), ("k\ufffd",)]
