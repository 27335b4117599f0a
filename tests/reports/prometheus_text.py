"""A strict reader of the Prometheus text exposition format 0.0.4 for the /metrics tests:
every line must be a comment or ``name{labels} value``; HELP/TYPE precede their samples."""

import re

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+]+|NaN|\+Inf|-Inf)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse(text: str) -> dict:
    """``{(name, ((label, value), ...)): float}``; raises ValueError on a malformed line."""
    out, typed = {}, set()
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _h, _t, name, kind = line.split(" ", 3)
            if kind not in ("counter", "gauge", "histogram", "summary", "untyped"):
                raise ValueError(line)
            typed.add(name)
            continue
        if line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError(f"bad sample line: {line!r}")
        name, labels = m.group(1), ()
        if m.group(3):
            pairs = _LABEL.findall(m.group(3))
            if ",".join(f'{k}="{v}"' for k, v, _s in pairs) != m.group(3):
                raise ValueError(f"bad labels: {line!r}")
            labels = tuple(sorted((k, v) for k, v, _s in pairs if k != "le")) + tuple(
                (k, v) for k, v, _s in pairs if k == "le")
        base = re.sub(r"_(bucket|count|sum)$", "", name)
        if name not in typed and base not in typed:
            raise ValueError(f"sample before its TYPE: {line!r}")
        out[(name, labels)] = float(m.group(4))
    return out
